from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from pathlib import Path

import pytest

from facewatchd import config
from facewatchd.errors import ConfigError

from .helpers import facewatchd, write_config


def test_a_full_config_parses_into_frozen_dataclasses(tmp_path: Path) -> None:
    path = write_config(tmp_path, tolerance=0.5, model="cnn", video_frames=4,
                        extra='[persons.Anna]\ntolerance = 0.45\n')
    cfg = config.load(path)
    assert cfg.recognition.references == tmp_path / "references"
    assert cfg.recognition.tolerance == 0.5
    assert cfg.recognition.model == "cnn"
    assert cfg.daemon.workers == 2
    assert cfg.watches[0].destination_for("Anna") == tmp_path / "sorted" / "Anna"
    assert cfg.watches[0].recursive is True
    assert cfg.tolerance_for("Anna") == 0.45
    assert cfg.tolerance_for("Bob") == 0.5
    with pytest.raises(AttributeError):
        cfg.recognition.tolerance = 0.9  # type: ignore[misc]


def test_the_cluster_section_is_optional_and_parsed_when_present(tmp_path: Path) -> None:
    assert config.load(write_config(tmp_path)).cluster is None  # the local pool
    cfg = config.load(write_config(tmp_path, extra=(
        '[cluster]\nscheduler = "tcp://10.0.0.5:8786"\nsend_bytes = true\n'
        'path_map = {"/srv/photos" = "/mnt/photos"}\nbatch = 8\n')))
    cluster = cfg.cluster
    assert cluster is not None
    assert (cluster.scheduler, cluster.send_bytes, cluster.batch) == ("tcp://10.0.0.5:8786", True, 8)
    assert dict(cluster.path_map) == {"/srv/photos": "/mnt/photos"}
    assert (cluster.max_tasks, cluster.retries, cluster.connect_timeout) == (0, 2, 10.0)
    with pytest.raises(TypeError):
        cluster.path_map["/x"] = "/y"  # type: ignore[index]


def test_defaults_fill_optional_keys(tmp_path: Path) -> None:
    cfg = config.load(write_config(tmp_path))
    assert cfg.recognition.tolerance == 0.56 and cfg.recognition.support_tolerance == 0.6
    assert cfg.recognition.fine_pass == "proposals" and cfg.recognition.weak_threshold == -0.5
    assert cfg.recognition.auto_reference is False and cfg.recognition.auto_cap == 20
    assert cfg.recognition.model == "hog"
    assert cfg.recognition.multi_person == "all"
    assert cfg.recognition.video_frames == 8


def test_the_shipped_default_config_is_valid_toml_with_known_keys(tmp_path: Path) -> None:
    # Point its folders at real ones so only the keys and types are being checked.
    text = (Path(__file__).parent.parent / "etc" / "facewatchd.toml").read_text()
    for name in ("references", "inbound", "people", "review"):
        (tmp_path / "srv" / name).mkdir(parents=True)
    text = text.replace('"/srv/photos/', f'"{tmp_path}/srv/')
    (tmp_path / "facewatchd.toml").write_text(text)
    cfg = config.load(tmp_path / "facewatchd.toml")
    assert cfg.watches[0].destination_for("Anna") == tmp_path / "srv" / "people" / "Anna"
    assert cfg.cluster is None  # commented out: analysis here
    # Its [cluster] example, every key uncommented, is valid too.
    start = text.index("# [cluster]\n")
    end = text.index("\n\n", start)
    example = re.sub(r"(?m)^# (\[cluster\]$|[a-z_]+ = )", r"\1", text[start:end])
    (tmp_path / "facewatchd.toml").write_text(text[:start] + example + text[end:])
    cluster = config.load(tmp_path / "facewatchd.toml").cluster
    assert cluster is not None and cluster.scheduler == "tcp://192.0.2.10:8786"
    assert dict(cluster.path_map) == {"/srv/photos": "/mnt/photos"}


@pytest.mark.parametrize("edit, message", [
    (lambda t: t + "\n[persons.Anna]\ntolernce = 0.5\n", "[persons.Anna] tolernce: unknown key"),
    (lambda t: t.replace("workers = 2", 'workers = "two"'), "[daemon] workers: must be an integer"),
    (lambda t: t.replace("workers = 2", "workers = true"), "[daemon] workers: must be an integer"),
    (lambda t: t.replace('references = "references"', 'references = "nowhere"'),
     "[recognition] references: no such folder"),
    (lambda t: t.replace('inbound = "inbound"', 'inbound = "missing"'),
     "[[watch]] #1 inbound: no such folder"),
    (lambda t: t.replace('references = "references"', 'references = "references"\ntolerance = 1.5'),
     "[recognition] tolerance: must be between 0 and 1"),
    (lambda t: t + "\n[persons.Anna]\ntolerance = -0.1\n", "[persons.Anna] tolerance: must be between 0 and 1"),
    (lambda t: t.replace('references = "references"', 'references = "references"\nmodel = "fast"'),
     "[recognition] model: must be one of 'hog', 'cnn'"),
    (lambda t: t.replace('"sorted/{person}"', '"nothere/{person}"'),
     "[[watch]] #1 destination (its parent): no such folder"),
    (lambda t: t.replace('review = "review"', 'review = "inbound/review"'),
     "[[watch]] #1 review: is inside [[watch]] #1 inbound"),
    (lambda t: t.split("[[watch]]")[0], "[[watch]]: at least one [[watch]] table is required"),
    (lambda t: t + "\n[extra]\n", "top level extra: unknown key"),
    (lambda t: t + '\n[cluster]\nbatch = 4\n', "[cluster] scheduler: missing required key"),
    (lambda t: t + '\n[cluster]\nscheduler = "localhost:8786"\n', '[cluster] scheduler: must be "tcp://HOST:PORT"'),
    (lambda t: t + '\n[cluster]\nscheduler = "tls://h:8786"\n', '[cluster] scheduler: must be "tcp://HOST:PORT"'),
    (lambda t: t + '\n[cluster]\nscheduler = "tcp://h:8786"\nbatch = 0\n',
     "[cluster] batch: must be at least 1, got 0"),
    (lambda t: t + '\n[cluster]\nscheduler = "tcp://h:8786"\nsend_bytes = "yes"\n',
     "[cluster] send_bytes: must be true or false"),
    (lambda t: t + '\n[cluster]\nscheduler = "tcp://h:8786"\npath_map = "/srv=/mnt"\n',
     "[cluster] path_map: must be a table of strings"),
    (lambda t: t + '\n[cluster]\nscheduler = "tcp://h:8786"\npath_map = {"/srv" = "mnt"}\n',
     "[cluster] path_map '/srv': 'mnt' is not an absolute path"),
    (lambda t: t + '\n[cluster]\nscheduler = "tcp://h:8786"\nconnect_timeout = 0\n',
     "[cluster] connect_timeout: must be a positive number of seconds"),
    (lambda t: t + '\n[cluster]\nscheduler = "tcp://h:8786"\nworkers = 4\n', "[cluster] workers: unknown key"),
    (lambda t: t + "\nthis is not toml\n", "invalid TOML"),
])
def test_a_bad_config_is_refused_with_one_line_naming_key_and_file(tmp_path: Path, edit, message) -> None:
    path = write_config(tmp_path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_the_daemon_exits_78_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = write_config(tmp_path, tolerance=2)
    result = facewatchd("--config", path, "--oneshot")
    assert result.returncode == 78
    assert result.stderr.strip().splitlines() == [
        f"facewatchd: {path}: [recognition] tolerance: must be between 0 and 1, got 2.0"]
    assert result.stdout == ""


def test_a_missing_config_file_exits_78(tmp_path: Path) -> None:
    result = facewatchd("--config", tmp_path / "none.toml", "--oneshot")
    assert result.returncode == 78
    assert "no such file" in result.stderr and "Traceback" not in result.stderr


def second_watch(inbound: str, destination: str = "sorted2/{person}", review: str = "review2") -> str:
    return f'\n[[watch]]\ninbound = "{inbound}"\ndestination = "{destination}"\nreview = "{review}"\n'


@pytest.mark.parametrize("layout, key, other", [
    # The references inside a (recursive) inbound: sorted away, then disabled.
    ({"references": "inbound/references"}, "[recognition] references", "[[watch]] #1 inbound"),
    ({"inbound": "references/inbox"}, "[[watch]] #1 inbound", "[recognition] references"),
    ({"inbound": "sorted/new"}, "[[watch]] #1 inbound", "[[watch]] #1 destination"),
    ({"inbound": "review/again"}, "[[watch]] #1 inbound", "[[watch]] #1 review"),
    ({"destination": "inbound/{person}"}, "[[watch]] #1 destination", "[[watch]] #1 inbound"),
    # One watch's inbound inside another's review or destination, and the other way round.
    ({"extra": second_watch("review/phone")}, "[[watch]] #2 inbound", "[[watch]] #1 review"),
    ({"extra": second_watch("sorted/phone")}, "[[watch]] #2 inbound", "[[watch]] #1 destination"),
    ({"extra": second_watch("phone", review="inbound/r2")}, "[[watch]] #2 review",
     "[[watch]] #1 inbound"),
    ({"extra": second_watch("inbound/phone")}, "[[watch]] #2 inbound", "[[watch]] #1 inbound"),
    ({"sure_tolerance": 0.65}, "[recognition] sure_tolerance", "[recognition] tolerance"),
])
def test_layouts_that_would_eat_their_own_folders_are_refused_at_start(
        tmp_path: Path, layout: dict, key: str, other: str) -> None:
    for name in ("inbound/references", "references/inbox", "sorted/new", "review/again",
                 "review/phone", "sorted/phone", "phone", "inbound/phone", "sorted2", "review2"):
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    path = write_config(tmp_path, extra=layout.pop("extra", ""),
                        destination=layout.pop("destination", "sorted/{person}"), **{
                            k: v for k, v in layout.items() if k == "sure_tolerance"})
    text = path.read_text()
    for name in ("references", "inbound"):
        if name in layout:
            text = text.replace(f'{name} = "{name}"', f'{name} = "{layout[name]}"')
    path.write_text(text)
    result = facewatchd("--config", path)  # the daemon itself, as systemd starts it
    assert result.returncode == 78, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"facewatchd: {path}: {key}") and other in line, line


def test_a_non_recursive_inbound_may_hold_the_other_folders(tmp_path: Path) -> None:
    path = write_config(tmp_path, destination="inbound/sorted/{person}",
                        watch_extra="recursive = false\n")
    (tmp_path / "inbound" / "sorted").mkdir()
    path.write_text(path.read_text().replace('review = "review"', 'review = "inbound/review"'))
    assert config.load(path).watches[0].review == tmp_path / "inbound" / "review"


def test_the_shipped_config_shows_each_default_as_it_is() -> None:
    # Its commented "# key = value" lines are the defaults a user reads; they must not drift.
    sections = {"daemon": config.DaemonConfig, "recognition": config.RecognitionConfig,
                "review": config.ReviewConfig, "cluster": config.ClusterConfig, "xmp": config.XmpConfig}
    text = (Path(__file__).parent.parent / "etc" / "facewatchd.toml").read_text()
    shown = 0
    for part in re.split(r"^(?:# )?\[", text, flags=re.M)[1:]:  # [cluster] is commented out
        name = part.split("]")[0]
        if name not in sections:
            continue
        defaults = {f.name: f.default for f in dataclasses.fields(sections[name])}
        for key, value in re.findall(r"^# (\w+) = (.+)$", part, flags=re.M):
            if key in ("state_dir", "socket", "group", "workers", "scheduler", "path_map"):  # examples
                continue
            assert tomllib.loads(f"v = {value}")["v"] == defaults[key], f"[{name}] {key}"
            shown += 1
    assert shown >= 30


def test_the_shipped_config_and_the_docs_list_exactly_the_models_keys_defaults_and_ranges() -> None:
    sections = {"daemon": config.DaemonConfig, "recognition": config.RecognitionConfig,
                "review": config.ReviewConfig, "cluster": config.ClusterConfig, "xmp": config.XmpConfig,
                "[watch]": config.WatchConfig, "persons.NAME": config.PersonConfig}
    model = {(name, f.name): f for name, cls in sections.items() for f in dataclasses.fields(cls)}
    text = (Path(__file__).parent.parent / "etc" / "facewatchd.toml").read_text()
    shown = set()
    for part in re.split(r"^(?:# )?\[", text, flags=re.M)[1:]:
        name = re.sub(r"^persons\.\w+", "persons.NAME", part.split("]")[0]).replace("[watch", "[watch]")
        shown |= {(name, key) for key in re.findall(r"^(?:# )?(\w+) = ", part, flags=re.M)}
    assert shown == set(model)

    docs = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `\[(.+?)\]` \| `(\w+)` \|\s*(.*?)\s*\|\s*(.*?)\s*\|", docs, flags=re.M)
    assert {(section, key) for section, key, _, _ in rows} == set(model)
    for section, key, default, allowed in rows:
        f = model[(section, key)]
        try:
            value = tomllib.loads(f"v = {default}")["v"]
        except tomllib.TOMLDecodeError:  # said in words: required, or derived at run time
            assert f.default in (dataclasses.MISSING, None), (section, key)
            continue
        assert value == (str(f.default) if isinstance(f.default, Path) else f.default) or (
            value == {} and key == "path_map"), (section, key)
        r = config.range_of(f)
        hint = typing.get_type_hints(sections[section])[key]
        if typing.get_origin(hint) is typing.Literal:
            expected = ", ".join(f'"{c}"' for c in typing.get_args(hint))
        else:
            expected = "" if r is None else ", ".join(
                [*([] if r.low is None else [f"{'>' if r.above else '≥'} {r.low:g}"]),
                 *([] if r.high is None else [f"≤ {r.high:g}"])])
        assert allowed.strip() == expected, (section, key)
