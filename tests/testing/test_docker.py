"""Docker mode: where no Docker engine answers (as on the build machine) these skip, saying so.

Where one does, the image is built from this checkout and a docker stack must deliver a
notification and leave no container behind.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from tests.support.servers import ROOT
from tests.testing.conftest import notify

from qahub_notify.testing import NotificationsStack, StackError
from qahub_notify.testing._docker import docker_unavailable
from qahub_notify.testing._stack import choose_mode

NO_ENGINE = docker_unavailable()
needs_docker = pytest.mark.skipif(
    NO_ENGINE is not None, reason=f"docker mode needs a Docker engine: {NO_ENGINE}"
)
IMAGE = "qahub-notify:kit-test"


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """The project's image, built from this checkout (BuildKit: the Dockerfile caches uv)."""
    docker = shutil.which("docker")
    assert docker, "a Docker engine answers but the docker CLI is missing"
    subprocess.run([docker, "build", "-t", IMAGE, str(ROOT)], check=True, timeout=1800)
    yield IMAGE
    subprocess.run([docker, "image", "rm", "-f", IMAGE], check=False, timeout=120)


@needs_docker
@pytest.mark.timeout(1800)
def test_a_docker_stack_delivers_and_leaves_no_container(image: str):
    import docker  # noqa: PLC0415 - only where an engine answers

    client = docker.from_env()
    before = {c.id for c in client.containers.list(all=True)}
    with NotificationsStack("docker", image=image) as stack:
        assert stack.mode == "docker"
        inbox = stack.inbox("42")
        notify(stack, "42", "invoice.paid", {"invoice": 1})
        assert inbox.wait_for(type="invoice.paid").data == {"invoice": 1}
    left = {c.id for c in client.containers.list(all=True)} - before
    reaper = {c.id for c in client.containers.list(all=True) if "ryuk" in c.image.tags[0]}
    assert left <= reaper


@needs_docker
def test_auto_chooses_docker_where_an_engine_answers():
    assert choose_mode("auto", rabbitmq_url=None) == "docker"


@pytest.mark.skipif(NO_ENGINE is None, reason="a Docker engine answers here")
class TestWithoutAnEngine:
    """No engine: auto runs local, and docker mode fails at once with the reason."""

    def test_auto_chooses_local(self):
        assert choose_mode("auto", rabbitmq_url=None) == "local"

    def test_docker_mode_says_why_it_cannot_start(self):
        stack = NotificationsStack("docker")
        with pytest.raises(StackError, match="docker mode: no Docker engine answers"):
            stack.start()
        assert stack.mode is None


def test_auto_with_a_broker_given_is_local():
    assert choose_mode("auto", rabbitmq_url="amqp://guest:guest@127.0.0.1:5672/") == "local"
