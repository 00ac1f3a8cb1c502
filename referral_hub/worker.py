"""`python -m referral_hub.worker`: outbox deliveries and rq's periodic sweeps (production)."""

from __future__ import annotations

from referral_hub.jobs.worker import run_worker


def main() -> None:
    from referral_hub import create_app

    run_worker(create_app(), burst=False)


if __name__ == "__main__":  # the rq scheduler forks a child: keep this guard
    main()
