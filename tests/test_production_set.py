"""What CI can check of the production set without a Docker engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_runs_unprivileged_from_a_locked_install_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = text.split("\nFROM ")
    runtime = stages[-1]
    assert "uv sync --locked" in text
    user_lines = [line for line in runtime.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1].split()[1] not in ("root", "0")
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert 'CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]' in runtime
    assert (ROOT / ".dockerignore").read_text().count(".venv") == 1


def test_compose_has_the_whole_set_and_one_scheduler() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"db", "redis", "migrate", "web", "worker", "scheduler"}
    assert services["scheduler"]["deploy"]["replicas"] == 1
    for name in ("web", "worker", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["REFERRAL_HUB_HUB_ENV"] == "production"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in services["db"] and "healthcheck" in services["redis"]
    assert "--requirepass" in services["redis"]["command"]
    assert "ports" not in services["redis"] and "ports" not in services["db"]
    # only the workers, which run the checkpoint job, hold the audit signing key
    holders = [
        name
        for name, s in services.items()
        if "REFERRAL_HUB_AUDIT_SIGNING_KEY" in s.get("environment", {})
    ]
    assert holders == ["worker"]


def test_gunicorn_accepts_the_config_and_imports_the_app(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REFERRAL_HUB_HUB_ENV": "embedded",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
        "REDIS_URL": "",
        "REFERRAL_HUB_INSTANCE_PATH": str(tmp_path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--check-config",
            "-c",
            "config/gunicorn.conf.py",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
