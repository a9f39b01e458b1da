"""esrgan.commands.workers: the flags that ask for workers, and what they refuse."""

from __future__ import annotations

import argparse

import pytest

from esrgan.commands.workers import add_worker_args, check_worker_args, ray_address, wants_workers


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("inputs", nargs="*")
    p.add_argument("--device", default="auto")
    p.add_argument("-v", "--verbose", action="count", default=0)
    add_worker_args(p)
    return p.parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "ray", "wanted"),
    [
        ((), None, False),
        (("a.png", "--ray"), "local", True),
        (("--ray", "auto", "a.png"), "auto", True),
        (("--ray", "10.0.0.5:6379"), "10.0.0.5:6379", True),
        (("--ray", "ray://head:10001"), "ray://head:10001", True),
        (("--device", "cuda:0,1"), None, True),
        (("--device", "cuda:all"), None, True),
        (("--device", "cuda:1"), None, False),
    ],
)
def test_what_asks_for_workers(argv: tuple[str, ...], ray: str | None, wanted: bool) -> None:
    args = parse(*argv)
    assert args.ray == ray and wants_workers(args) is wanted


def test_an_input_is_not_a_ray_address() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="inputs go before --ray"):
        ray_address("photos/")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--workers", "2"), "--workers needs --ray"),
        (("--worker-gpus", "0.5"), "--worker-gpus needs --ray"),
        (("--ray", "--device", "cuda:0,1"), "Ray gives each worker its GPU"),
    ],
)
def test_combinations_that_mean_nothing_are_refused(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_worker_args(parse(*argv))
