"""A contender that cannot run here is skipped with the reason, and the run goes on.

Loop mode is judged against config classes with and without ``io`` (stand-ins for this
checkout before and after the option exists), so these hold on either.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.clients import ContenderUnavailable, import_optional
from bench.http_e2e import APPS, App, app_unavailable
from bench.iomode import NO_IO_OPTION, config_has_io, io_unavailable, with_io
from bench.point_reads import Ours, OursTraced, all_contenders, measure_point_reads
from cassandra_asgi.config import CassandraConfig


class ConfigWithoutIo(CassandraConfig):
    """A ``CassandraConfig`` as it was before the ``io`` option."""

    def __init__(self, contact_points: tuple[str, ...] = ("127.0.0.1",), **options: Any) -> None:
        super().__init__(contact_points, **options)


class ConfigWithIo(CassandraConfig):
    """A ``CassandraConfig`` that takes ``io`` (the value is not needed here)."""

    def __init__(
        self, contact_points: tuple[str, ...] = ("127.0.0.1",), io: str = "thread", **options: Any
    ) -> None:
        super().__init__(contact_points, **options)


def test_loop_mode_is_unavailable_when_the_config_has_no_io_option() -> None:
    assert not config_has_io(ConfigWithoutIo)
    assert io_unavailable("loop", ConfigWithoutIo) == NO_IO_OPTION


def test_loop_mode_is_available_when_the_config_takes_io() -> None:
    assert config_has_io(ConfigWithIo)
    assert io_unavailable("loop", ConfigWithIo) is None


def test_thread_mode_is_available_either_way() -> None:
    assert io_unavailable("thread", ConfigWithoutIo) is None
    assert io_unavailable("thread", ConfigWithIo) is None


def test_an_unknown_mode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'reactor'"):
        io_unavailable("reactor", ConfigWithIo)


def test_thread_mode_leaves_a_config_without_io_as_it_is() -> None:
    config = ConfigWithoutIo()
    assert with_io(config, "thread") is config


def test_loop_mode_cannot_be_forced_onto_a_config_without_io() -> None:
    with pytest.raises(ValueError, match=NO_IO_OPTION):
        with_io(ConfigWithoutIo(), "loop")


def test_loop_mode_is_set_on_the_real_config_once_it_has_the_option() -> None:
    if not config_has_io():
        pytest.skip(NO_IO_OPTION)
    config = with_io(CassandraConfig(), "loop")
    assert config.io == "loop"


async def test_loop_contenders_are_skipped_with_the_reason_and_the_run_goes_on() -> None:
    config = ConfigWithoutIo()
    contenders = [Ours(config, 10, io="loop"), OursTraced(config, 10, io="loop")]
    results = await measure_point_reads(
        contenders, [10], rounds=1, duration=0.1, warmup=0.0, max_requests=10, progress=print
    )
    assert results.skipped == {"ours_loop": NO_IO_OPTION, "ours_traced_loop": NO_IO_OPTION}
    assert results.by_contender == {}


def test_a_missing_package_is_named_with_how_to_install_it() -> None:
    with pytest.raises(
        ContenderUnavailable, match=r"no-such-client is not installed \(pip install"
    ):
        import_optional("no_such_client_for_the_bench", "no-such-client")


def test_every_contender_of_ours_runs_in_both_modes_beside_the_native_clients() -> None:
    names = [contender.name for contender in all_contenders(CassandraConfig(), 10)]
    assert {"ours", "ours_loop", "ours_traced", "ours_traced_loop"} <= set(names)
    assert {"scyllapy", "acsylla"} <= set(names)
    assert len(names) == len(set(names))


def test_every_http_app_of_ours_has_a_loop_mode_twin() -> None:
    ours = {name: app for name, app in APPS.items() if app.io == "thread"}
    assert set(ours) == {"example_http", "middleware_http", "traced_middleware_http"}
    for name, app in ours.items():
        twin = APPS[f"{name}_loop"]
        assert (twin.factory, twin.io) == (app.factory, "loop")
    assert APPS["acsylla_http"].requires == "acsylla"


def test_http_loop_apps_are_skipped_without_the_io_option() -> None:
    assert app_unavailable(APPS["middleware_http_loop"], ConfigWithoutIo) == NO_IO_OPTION
    assert app_unavailable(APPS["middleware_http_loop"], ConfigWithIo) is None
    assert app_unavailable(APPS["middleware_http"], ConfigWithoutIo) is None


def test_an_http_app_whose_client_is_missing_is_skipped_naming_it() -> None:
    app = App(
        "nowhere:create",
        "needs a client that is not installed",
        io=None,
        requires="no_such_client_for_the_bench",
    )
    assert app_unavailable(app) == (
        "no_such_client_for_the_bench is not installed (pip install no_such_client_for_the_bench)"
    )


def test_an_unknown_http_app_is_refused_by_name() -> None:
    from bench.cli import _parser, settings_from

    with pytest.raises(SystemExit, match="no_such_http"):
        settings_from(_parser().parse_args(["--http-apps", "middleware_http,no_such_http"]))
