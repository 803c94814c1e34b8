"""One log format and one error vocabulary for both services."""

from __future__ import annotations

import logging
import logging.config

import pytest

from qahub_contracts.errors import ErrorCode, code_for_status
from qahub_contracts.logs import BrokerDropFilter, access_line, uvicorn_log_config


class TestAccessLine:
    """An access line is one line in one shape, whatever the client sent."""

    def test_shape(self, caplog):
        caplog.set_level(logging.INFO, logger="svc.access")
        access_line(
            logging.getLogger("svc.access"), "127.0.0.1", "GET", "/a/b", status=404, seconds=0.0123
        )
        assert caplog.messages == ['127.0.0.1 "GET /a/b" 404 12.3ms']

    def test_control_characters_cannot_forge_a_line(self, caplog):
        caplog.set_level(logging.INFO, logger="svc.access")
        access_line(
            logging.getLogger("svc.access"), "::1", "GET", "/x\nFAKE 200", status=200, seconds=0.001
        )
        assert caplog.messages == ['::1 "GET /x\\x0aFAKE 200" 200 1.0ms']


class TestUvicornLogConfig:
    """uvicorn's own loggers write in the services' format, through the root handler."""

    def test_uvicorn_records_use_the_services_format(self, capsys):
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        try:
            logging.config.dictConfig(uvicorn_log_config())
            logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
        finally:
            root.handlers[:], root.level = saved
        line = capsys.readouterr().err.strip()
        assert line.endswith(" WARNING uvicorn.error Invalid HTTP request received.")


class TestErrorCodes:
    """Every HTTP status maps to one stable code."""

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (400, ErrorCode.BAD_REQUEST),
            (401, ErrorCode.UNAUTHORIZED),
            (413, ErrorCode.PAYLOAD_TOO_LARGE),
            (418, ErrorCode.BAD_REQUEST),
            (431, ErrorCode.HEADERS_TOO_LARGE),
            (503, ErrorCode.UNAVAILABLE),
            (502, ErrorCode.INTERNAL_ERROR),
        ],
    )
    def test_code_for_status(self, status, code):
        assert code_for_status(status) is code

    def test_codes_are_their_wire_strings(self):
        assert ErrorCode.IDEMPOTENCY_CONFLICT == "idempotency_conflict"
        assert len({c.value for c in ErrorCode}) == len(ErrorCode)


class TestBrokerDrops:
    """A dropped broker connection is one WARNING line; any other error keeps its traceback."""

    def _record(self, level: int, error: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "aiormq.connection", level, __file__, 1, "reader exited", (), (type(error), error, None)
        )

    def test_a_closed_connection_loses_its_traceback(self):
        from aiormq.exceptions import ConnectionClosed  # noqa: PLC0415 - the server extra

        record = self._record(logging.ERROR, ConnectionClosed(320, "CONNECTION_FORCED"))
        assert BrokerDropFilter().filter(record)
        assert record.exc_info is None
        assert record.levelno == logging.WARNING
        assert "connection dropped: ConnectionClosed" in record.getMessage()

    def test_a_bug_keeps_its_traceback(self):
        record = self._record(logging.ERROR, KeyError("frame"))
        assert BrokerDropFilter().filter(record)
        assert record.exc_info is not None
        assert record.levelno == logging.ERROR
