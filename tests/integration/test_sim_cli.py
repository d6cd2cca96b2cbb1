"""``python -m axorders.sim`` as a subprocess: the JSON line, serving, a clean stop."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import aiohttp
import pytest

from axorders.sim.cli import build_parser, config_from_args, main


async def test_subprocess_prints_json_serves_and_stops_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "axorders.sim",
        "--print-json",
        "--no-makers",
        "--port",
        "0",
        "--seed",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = await process.stdout.readline()
        info = json.loads(line)
        assert set(info) == {
            "base_url", "orders_ws_url", "md_ws_url", "api_key", "api_secret", "user_id",
            "admin_token",
        }  # fmt: skip
        assert len(info["admin_token"]) >= 16
        assert info["base_url"].startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                info["base_url"] + "/api/authenticate",
                json={"api_key": info["api_key"], "api_secret": info["api_secret"]},
            ) as response:
                token = (await response.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with http.ws_connect(info["orders_ws_url"], headers=headers) as ws:
                login = json.loads(await ws.receive_str(timeout=5))
                assert login["res"]["li"] == info["user_id"]
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_arguments_become_a_config() -> None:
    args = build_parser().parse_args(
        ["--no-makers", "--heartbeat", "0.5", "--seed", "9", "--cancel-reject", "event"]
    )
    config = config_from_args(args)
    assert (config.makers, config.heartbeat_interval, config.seed) == (False, 0.5, 9)
    assert config.cancel_reject.value == "event"


def test_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "--print-json" in capsys.readouterr().out
