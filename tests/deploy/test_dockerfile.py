"""The Dockerfile, its ignore file, and the relay wheel the image installs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
from tests.support.servers import ROOT


class TestDockerfile:
    """Multi-stage, no dev tools, a non-root user, a health check; the ignore file keeps it lean."""

    TEXT = (ROOT / "Dockerfile").read_text()

    def instructions(self, name: str) -> list[str]:
        lines = re.sub(r"\\\n", " ", self.TEXT).splitlines()
        return [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith(name + " ")]

    def test_multi_stage_from_the_lock_file_without_dev_tools(self):
        assert len(self.instructions("FROM")) >= 2
        syncs = [r for r in self.instructions("RUN") if "uv sync" in r]
        assert syncs
        assert all("--frozen" in r and "--no-dev" in r for r in syncs)

    def test_runs_as_a_non_root_user_with_a_healthcheck(self):
        final_stage = self.TEXT.rsplit("\nFROM ", 1)[1]
        users = [ln.split()[1] for ln in final_stage.splitlines() if ln.startswith("USER ")]
        assert users
        assert users[-1] not in {"root", "0"}
        (healthcheck,) = self.instructions("HEALTHCHECK")
        command = json.loads(healthcheck.split(" CMD ", 1)[1])
        assert command == ["python", "-m", "qahub_notify.healthcheck"]
        assert "HEALTHCHECK" in final_stage

    def test_oci_labels_name_the_image_and_its_version(self):
        final_stage = self.TEXT.rsplit("\nFROM ", 1)[1]
        labels = dict(re.findall(r"(org\.opencontainers\.image\.\w+)=\"([^\"]*)\"", final_stage))
        prefix = "org.opencontainers.image."
        assert {
            f"{prefix}{k}" for k in ("title", "description", "version", "revision", "created")
        } <= set(labels)
        assert labels[f"{prefix}version"] == "${VERSION}"
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        assert f"ARG VERSION={project['version']}" in final_stage

    def test_default_command_is_the_api(self):
        (cmd,) = self.instructions("CMD")
        assert json.loads(cmd)[:2] == ["qahub-notify", "api"]

    def test_dockerignore_keeps_the_environment_and_history_out(self):
        ignored = (ROOT / ".dockerignore").read_text().split()
        assert {".git", ".venv", "tests"} <= set(ignored)

    def test_every_copied_path_exists(self):
        for copy in self.instructions("COPY"):
            if "--from=" in copy:
                continue
            for source in copy.split()[:-1]:
                assert (ROOT / source).exists(), source


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv builds the wheel")
def test_the_demo_page_ships_in_the_relay_wheel(tmp_path: Path):
    """The image installs wheels, not the checkout: the page must be package data."""
    subprocess.run(
        ["uv", "build", "--package", "stream-relay", "--wheel", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("stream_relay-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in (
        "index.html",
        "demo.js",
        "demo-preferences.js",
        "demo.css",
        "qahub-notifications.js",
    ):
        assert f"stream_relay/static/{name}" in names
