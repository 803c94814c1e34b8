"""What the repository commits from the TypeScript client is what its sources build."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.readme import readme_snippet
from tests.support.servers import ROOT

BUNDLE = ROOT / "services" / "stream-relay" / "src" / "stream_relay" / "static"


def _node(package: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", *args],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestCommittedBuild:
    """The relay serves the committed bundle; `make run` needs no Node, so it must be fresh."""

    def test_the_relays_bundle_equals_a_fresh_build(self, typescript_package: Path):
        done = _node(typescript_package, "scripts/bundle.mjs", "--check")
        assert done.returncode == 0, done.stderr
        text = (BUNDLE / "qahub-notifications.js").read_text(encoding="utf-8")
        assert "export {\n  createInbox\n};" in text

    def test_the_types_are_generated_from_the_current_json_schemas(self, typescript_package: Path):
        done = _node(typescript_package, "scripts/generate-types.mjs", "--check")
        assert done.returncode == 0, done.stderr

    def test_the_package_type_checks_strictly(self, typescript_package: Path):
        for config in ("tsconfig.json", "tsconfig.build.json"):
            tsc = typescript_package / "node_modules" / "typescript" / "bin" / "tsc"
            done = _node(typescript_package, str(tsc), "-p", config, "--noEmit")
            assert done.returncode == 0, done.stdout + done.stderr


class TestReadmeSnippetTypes:
    """The README's React snippet type-checks against the package's own types (strict)."""

    def test_the_react_snippet_type_checks(self, typescript_package: Path, tmp_path: Path):
        (tmp_path / "App.tsx").write_text(readme_snippet("Use it in React", "tsx"))
        (tmp_path / "package.json").write_text('{"type": "module"}')
        types = typescript_package / "node_modules" / "@types" / "react"
        config = {
            "extends": str(typescript_package / "tsconfig.json"),
            "compilerOptions": {
                "noEmit": True,
                "types": [],
                "paths": {
                    "@qahub/notifications/react": [str(typescript_package / "src" / "react.ts")],
                    "react": [str(types / "index.d.ts")],
                    "react/jsx-runtime": [str(types / "jsx-runtime.d.ts")],
                },
            },
            "include": [str(tmp_path / "App.tsx")],
        }
        (tmp_path / "tsconfig.json").write_text(json.dumps(config))
        tsc = typescript_package / "node_modules" / "typescript" / "bin" / "tsc"
        done = _node(typescript_package, str(tsc), "-p", str(tmp_path / "tsconfig.json"))
        assert done.returncode == 0, done.stdout + done.stderr
