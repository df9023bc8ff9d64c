"""`funchost pack`, run as a user runs it, in temp folders: what the zip holds, with `.funcignore`
applied as Core Tools applies it (one test per rule of its parser), and `--build local`."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, run_cli, write_app

# A Python other than the one running the tests, for cross-builds.
OTHER_PYTHON = f"3.{sys.version_info.minor + 1}"
OTHER_TAG = f"py3{sys.version_info.minor + 1}"


def pack(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli("pack", *args, env=env, cwd=cwd)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The last line of stderr, after checking the run failed without a traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def names(package: Path) -> list[str]:
    with zipfile.ZipFile(package) as archive:
        return archive.namelist()


def packed(tmp_path: Path, files: dict[str, str], env: dict[str, str]) -> list[str]:
    """Pack an app made of `files` and return the zip's entries, sorted."""
    app = write_app(tmp_path / "app", files)
    ok(pack(str(app), "-o", str(tmp_path / "out.zip"), cwd=tmp_path, env=env))
    return sorted(names(tmp_path / "out.zip"))


def tree(folder: Path) -> dict[str, tuple[int, float]]:
    """Every file and folder under `folder` with its size and modification time."""
    found = {}
    for path in sorted(folder.rglob("*")):
        status = path.lstat()
        found[path.relative_to(folder).as_posix()] = (status.st_size, status.st_mtime)
    return found


# What the zip holds, where it goes


def test_the_zip_root_is_the_app_root_with_posix_paths_modes_and_contents(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "function_app.py": "import azure.functions as func\napp = func.FunctionApp()\n",
            "requirements.txt": "azure-functions\n",
            "lib/helpers/text.py": "WORD = 'hi'\n",
            "bin/tool.sh": "#!/bin/sh\necho hi\n",
        },
    )
    (app / "bin/tool.sh").chmod(0o750)
    (app / "lib/empty").mkdir()
    out = ok(pack(str(app), "-o", "dist/app.zip", cwd=tmp_path, env=host_env))
    package = tmp_path / "dist/app.zip"
    size = package.stat().st_size
    assert out == f"Created package dist/app.zip (5 files, {size} bytes)\n"
    with zipfile.ZipFile(package) as archive:
        assert archive.testzip() is None
        # each folder's files before its subfolders, in name order; no folder entries
        assert archive.namelist() == [
            "function_app.py",
            "host.json",
            "requirements.txt",
            "bin/tool.sh",
            "lib/helpers/text.py",
        ]
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert modes["bin/tool.sh"] == 0o100755
        assert modes["function_app.py"] == 0o100644
        assert {info.create_system for info in archive.infolist()} == {3}
        assert archive.read("lib/helpers/text.py") == b"WORD = 'hi'\n"


def test_packing_twice_gives_the_same_bytes(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(
        tmp_path / "app", {f"m{i}/f{j}.py": f"{i}{j}" for i in range(5) for j in range(5)}
    )
    ok(pack(str(app), "-o", "one.zip", cwd=tmp_path, env=host_env))
    ok(pack(str(app), "-o", "two.zip", cwd=tmp_path, env=host_env))
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_default_output_is_the_app_name_in_the_current_folder(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    write_app(tmp_path / "src/myapp", {})
    (tmp_path / "work").mkdir()
    ok(pack("../src/myapp", cwd=tmp_path / "work", env=host_env))
    assert names(tmp_path / "work/myapp.zip") == ["host.json"]


def test_packing_from_inside_the_app_writes_beside_it_and_leaves_it_unchanged(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "myapp", {"function_app.py": ""})
    before = tree(app)
    out = ok(pack(cwd=app, env=host_env))
    assert out.startswith(f"Created package {tmp_path / 'myapp.zip'} (2 files")
    assert names(tmp_path / "myapp.zip") == ["function_app.py", "host.json"]
    assert tree(app) == before


def test_an_output_folder_gets_the_app_name_as_in_core_tools(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "myapp", {})
    (tmp_path / "dist").mkdir()
    ok(pack(str(app), "-o", "dist", cwd=tmp_path, env=host_env))
    assert names(tmp_path / "dist/myapp.zip") == ["host.json"]


def test_an_output_inside_the_app_is_refused_unless_funcignore_excludes_it(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": ""})
    refused = pack("-o", "dist/app.zip", cwd=app, env=host_env)
    assert error_line(refused) == (
        "funchost: error: the package 'dist/app.zip' is inside the app folder and would be "
        "packed with it: write it elsewhere, or exclude it in .funcignore"
    )
    assert not (app / "dist").exists()
    (app / ".funcignore").write_text("dist\n")
    ok(pack("-o", "dist/app.zip", cwd=app, env=host_env))
    ok(pack("-o", "dist/app.zip", cwd=app, env=host_env))  # the old package is not packed
    assert names(app / "dist/app.zip") == ["function_app.py", "host.json"]


# .funcignore, as Core Tools' GitIgnoreParser reads it


def test_patterns_are_anchored_at_the_app_root(tmp_path: Path, host_env: dict[str, str]) -> None:
    files = {
        ".funcignore": "docs\n*.log\n/data\n",
        "docs/a.md": "",
        "sub/docs/a.md": "",
        "x.log": "",
        "sub/y.log": "",
        "data/d.csv": "",
        "sub/data/d.csv": "",
    }
    assert packed(tmp_path, files, host_env) == [
        "host.json",
        "sub/data/d.csv",
        "sub/docs/a.md",
        "sub/y.log",
    ]


def test_patterns_match_a_prefix_ending_at_a_word_boundary(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    files = {
        ".funcignore": "test\n",
        "test/a.py": "",
        "test.py": "",
        "test-data/x.json": "",
        "test.d/x": "",
        "tests/a.py": "",
        "testing.py": "",
    }
    assert packed(tmp_path, files, host_env) == ["host.json", "testing.py", "tests/a.py"]


def test_a_negation_wins_inside_an_excluded_folder_wherever_it_stands(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    files = {
        ".funcignore": "!tests/fixtures\ntests\n",
        "tests/test_a.py": "",
        "tests/fixtures/data.json": "",
        "tests/fixtures/deep/more.json": "",
    }
    assert packed(tmp_path, files, host_env) == [
        "host.json",
        "tests/fixtures/data.json",
        "tests/fixtures/deep/more.json",
    ]


def test_patterns_are_case_sensitive(tmp_path: Path, host_env: dict[str, str]) -> None:
    files = {".funcignore": "Docs\nnotes.TXT\n", "docs/a.md": "", "notes.txt": "", "Docs/b.md": ""}
    assert packed(tmp_path, files, host_env) == ["docs/a.md", "host.json", "notes.txt"]


def test_a_pattern_ending_in_punctuation_needs_a_word_character_after_it(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    files = {
        ".funcignore": "build/\n*~\n",
        "build/out.txt": "",
        "build/.stamp": "",
        "main.py~": "",
        "x~y": "",
    }
    assert packed(tmp_path, files, host_env) == ["build/.stamp", "host.json", "main.py~"]


def test_a_star_stays_in_one_folder_and_a_double_star_needs_a_character(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    files = {
        ".funcignore": "a/**/b\n*.pyc\nlib/*.tmp\n",
        "a/x/y/b/f.txt": "",
        "a/b/f.txt": "",
        "top.pyc": "",
        "pkg/deep.pyc": "",
        "lib/x.tmp": "",
        "lib/sub/y.tmp": "",
    }
    assert packed(tmp_path, files, host_env) == [
        "a/b/f.txt",
        "host.json",
        "lib/sub/y.tmp",
        "pkg/deep.pyc",
    ]


def test_question_marks_and_brackets_are_literal(tmp_path: Path, host_env: dict[str, str]) -> None:
    files = {
        ".funcignore": "file?.txt\n[ab].txt\n",
        "file?.txt": "",
        "file1.txt": "",
        "a.txt": "",
        "[ab].txt": "",
    }
    assert packed(tmp_path, files, host_env) == ["a.txt", "file1.txt", "host.json"]


def test_comments_blank_lines_spaces_and_crlf_are_skipped(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    files = {
        ".funcignore": "\ufeff# a comment\r\n\r\n   scratch   \r\n  # indented comment\r\n",
        "scratch/x.py": "",
        "# a comment": "",
        "keep.py": "",
    }
    assert packed(tmp_path, files, host_env) == ["# a comment", "host.json", "keep.py"]


def test_core_tools_names_are_left_out_at_any_depth_in_any_case(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    files = {
        ".funcignore": "!local.settings.json\n!sub\n",
        ".gitignore": "",
        "local.settings.json": "{}",
        "project.lock.json": "{}",
        "sub/.funcignore": "",
        "sub/.gitignore": "",
        "sub/Local.Settings.JSON": "{}",
        "sub/project.lock.json": "{}",
        ".git/HEAD": "",
        "sub/.GIT/HEAD": "",
        ".vscode/settings.json": "",
        "sub/.vscode/launch.json": "",
        "sub/kept.py": "",
        ".gitattributes": "",
    }
    assert packed(tmp_path, files, host_env) == [".gitattributes", "host.json", "sub/kept.py"]


def test_only_folders_named_git_or_vscode_are_left_out(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    files = {"vendor/lib/.git": "gitdir: ../../.git/modules/lib", ".vscode": "", "x/.git/y": ""}
    assert packed(tmp_path, files, host_env) == [".vscode", "host.json", "vendor/lib/.git"]


def test_funchost_never_packs_virtual_environments_caches_or_its_state(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    files = {
        ".funcignore": "!.venv\n!env\n!.funchost\n!pkg\n",
        ".venv/lib/site.py": "",
        "env/pyvenv.cfg": "home = /usr/bin",
        "env/lib/site.py": "",
        ".funchost/storage.db": "",
        "pkg/__pycache__/m.cpython-311.pyc": "",
        "pkg/m.py": "",
        "pkg/.venv/x": "",
    }
    assert packed(tmp_path, files, host_env) == ["host.json", "pkg/m.py"]


# --build none (the default) and the lists


@pytest.mark.parametrize("flags", [[], ["--no-build"], ["--build", "none"]])
def test_an_existing_python_packages_ships_as_it_is(
    tmp_path: Path, host_env: dict[str, str], flags: list[str]
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "requirements.txt": "requests\n",
            ".python_packages/lib/site-packages/requests/__init__.py": "",
        },
    )
    result = pack(str(app), "-o", "out.zip", *flags, cwd=tmp_path, env=host_env)
    ok(result)
    assert result.stderr == ""
    assert names(tmp_path / "out.zip") == [
        "host.json",
        "requirements.txt",
        ".python_packages/lib/site-packages/requests/__init__.py",
    ]


def test_a_note_says_when_requirements_have_no_python_packages(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {"requirements.txt": "azure-functions\n"})
    assert ok(pack(str(app), "-o", "a.zip", cwd=tmp_path, env=host_env))
    assert pack(str(app), "-o", "a.zip", cwd=tmp_path, env=host_env).stderr == ""
    (app / "requirements.txt").write_text("# deps\nazure-functions\nrequests==2.32.3\n")
    result = pack(str(app), "-o", "a.zip", cwd=tmp_path, env=host_env)
    ok(result)
    assert result.stderr == (
        "funchost: note: requirements.txt lists packages but the app has no .python_packages: "
        "use --build local, or a publish that builds remotely\n"
    )


def test_list_included_and_ignored_files_print_posix_paths_and_write_nothing(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            ".funcignore": "tests\n",
            "function_app.py": "",
            "tests/test_a.py": "",
            "shared/util.py": "",
            "local.settings.json": "{}",
            ".venv/pyvenv.cfg": "",
            "shared/__pycache__/util.pyc": "",
        },
    )
    included = ok(pack("--list-included-files", cwd=app, env=host_env))
    assert included == "function_app.py\nhost.json\nshared/util.py\n"
    ignored = ok(pack("--list-ignored-files", cwd=app, env=host_env))
    assert ignored == (
        ".funcignore\nlocal.settings.json\n.venv/\nshared/__pycache__/\ntests/test_a.py\n"
    )
    assert not list(tmp_path.glob("*.zip"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing"], "funchost: error: app folder 'missing' does not exist"),
        (["empty"], "funchost: error: 'empty' is not a function app: it has no host.json"),
        (
            ["app", "--build", "local", "--python-version", "3"],
            "funchost pack: error: argument --python-version: invalid Python version '3' "
            "(expected X.Y, such as 3.11)",
        ),
        (
            ["app", "--build", "local", "--python-version", "2.7"],
            "funchost pack: error: argument --python-version: invalid Python version '2.7' "
            "(expected X.Y, such as 3.11)",
        ),
        (
            ["app", "--build", "local", "--platform", "linux x86"],
            "funchost pack: error: argument --platform: invalid platform tag 'linux x86' "
            "(such as manylinux2014_x86_64)",
        ),
        (
            ["app", "--python-version", "3.11"],
            "funchost pack: error: argument --python-version: only with --build local",
        ),
        (
            ["app", "--build", "remote"],
            "funchost pack: error: argument --build: invalid choice: 'remote' "
            "(choose from 'none', 'local')",
        ),
        (
            ["app", "--build", "local", "--no-build"],
            "funchost pack: error: argument --no-build: not allowed with argument --build",
        ),
        (
            ["app", "--build", "local"],
            "funchost: error: --build local needs requirements.txt, and "
            "{app}/requirements.txt does not exist",
        ),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(
    tmp_path: Path, host_env: dict[str, str], args: list[str], message: str
) -> None:
    app = write_app(tmp_path / "app", {})
    (tmp_path / "empty").mkdir()
    result = pack(*args, cwd=tmp_path, env=host_env)
    assert error_line(result) == message.format(app=app)
    assert not list(tmp_path.rglob("*.zip"))


# --build local


def make_wheel(folder: Path, name: str = "tinypkg", tag: str = "py3-none-any") -> Path:
    """A wheel of a one-module package, written by hand (no build tools, no network)."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-1.0-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.fixture
def offline_env(host_env: dict[str, str]) -> dict[str, str]:
    """pip reads its settings from the environment: no index at all."""
    return {**host_env, "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}


def test_build_local_installs_requirements_into_the_package_not_the_app(
    tmp_path: Path, offline_env: dict[str, str]
) -> None:
    wheel = make_wheel(tmp_path / "wheels")
    app = write_app(
        tmp_path / "app",
        {
            "function_app.py": "",
            "requirements.txt": f"# the app's one dependency\n{wheel}\n",
            ".python_packages/lib/site-packages/stale/__init__.py": "",
        },
    )
    before = tree(app)
    result = pack(str(app), "-o", "out.zip", "--build", "local", cwd=tmp_path, env=offline_env)
    ok(result)
    assert "pip install --target" in result.stderr
    assert "--only-binary" not in result.stderr  # a build for this Python and machine
    site = ".python_packages/lib/site-packages/"
    entries = names(tmp_path / "out.zip")
    assert entries[:3] == ["function_app.py", "host.json", "requirements.txt"]
    built = set(entries[3:])
    assert {f"{site}tinypkg/__init__.py", f"{site}tinypkg-1.0.dist-info/METADATA"} <= built
    assert all(path.startswith(site) for path in built)  # the app's stale packages are gone
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert archive.read(f"{site}tinypkg/__init__.py") == b"VALUE = 42\n"
    assert tree(app) == before
    listed = ok(
        pack(str(app), "--build", "local", "--list-ignored-files", cwd=tmp_path, env=offline_env)
    )
    assert listed == ".python_packages/\n"


def test_a_cross_build_passes_only_binary_platform_and_python_version_to_pip(
    tmp_path: Path, offline_env: dict[str, str]
) -> None:
    # A wheel for Windows and the next Python only: pip installs it only if it got both flags.
    wheel = make_wheel(tmp_path / "wheels", tag=f"{OTHER_TAG}-none-win_amd64")
    app = write_app(tmp_path / "app", {"requirements.txt": f"{wheel}\n"})
    native = pack(str(app), "-o", "native.zip", "--build", "local", cwd=tmp_path, env=offline_env)
    assert "is not a supported wheel on this platform" in native.stderr
    assert error_line(native) == (
        "funchost: error: pip could not install requirements.txt (exit code 1); "
        "the app folder is unchanged"
    )
    assert not (tmp_path / "native.zip").exists()
    result = pack(
        str(app),
        "-o",
        "cross.zip",
        "--build",
        "local",
        "--python-version",
        OTHER_PYTHON,
        "--platform",
        "win_amd64",
        cwd=tmp_path,
        env=offline_env,
    )
    ok(result)
    flags = f"--only-binary=:all: --platform win_amd64 --python-version {OTHER_PYTHON}"
    assert flags in result.stderr
    assert ".python_packages/lib/site-packages/tinypkg/__init__.py" in names(tmp_path / "cross.zip")


def test_a_cross_build_for_another_python_defaults_to_azure_linux_platforms(
    tmp_path: Path, offline_env: dict[str, str]
) -> None:
    wheel = make_wheel(tmp_path / "wheels", tag=f"{OTHER_TAG}-none-manylinux_2_17_x86_64")
    app = write_app(tmp_path / "app", {"requirements.txt": f"{wheel}\n"})
    result = pack(
        str(app),
        "-o",
        "out.zip",
        "--build",
        "local",
        "--python-version",
        OTHER_PYTHON,
        cwd=tmp_path,
        env=offline_env,
    )
    ok(result)
    assert "--platform manylinux_2_28_x86_64" in result.stderr
    assert "--platform manylinux2014_x86_64" in result.stderr
    assert ".python_packages/lib/site-packages/tinypkg/__init__.py" in names(tmp_path / "out.zip")


class RecordingIndex(http.server.BaseHTTPRequestHandler):
    """A package index that has nothing and remembers what pip asked it."""

    asked: list[str]

    def do_GET(self) -> None:
        self.asked.append(self.path)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def index_servers() -> Iterator[list[tuple[str, list[str]]]]:
    """Two package indexes on loopback: (URL, paths asked)."""
    servers = []
    for _ in range(2):
        asked: list[str] = []
        handler = type("Handler", (RecordingIndex,), {"asked": asked})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, asked))
    yield [(f"http://127.0.0.1:{s.server_address[1]}/simple/", asked) for s, asked in servers]
    for server, _ in servers:
        server.shutdown()
        server.server_close()


def test_build_local_uses_pip_index_url_and_extra_index_url(
    tmp_path: Path, host_env: dict[str, str], index_servers: list[tuple[str, list[str]]]
) -> None:
    (index, asked), (extra, asked_extra) = index_servers
    app = write_app(tmp_path / "app", {"requirements.txt": "funchost-test-nothere==1.0\n"})
    before = tree(app)
    env = {
        **host_env,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": index,
        "PIP_EXTRA_INDEX_URL": extra,
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "5",
    }
    result = pack(str(app), "-o", "out.zip", "--build", "local", cwd=tmp_path, env=env)
    assert error_line(result).startswith("funchost: error: pip could not install")
    assert "/simple/funchost-test-nothere/" in asked
    assert "/simple/funchost-test-nothere/" in asked_extra
    assert tree(app) == before
    assert not (tmp_path / "out.zip").exists()


def test_a_listing_nobody_reads_stops_quietly(tmp_path: Path, host_env: dict[str, str]) -> None:
    """`funchost pack --list-included-files | head -1`: the reader is gone (here before the
    first write, so the write fails for sure), and funchost stops without a traceback."""
    app = write_app(tmp_path / "app", {"function_app.py": ""})
    read_end, write_end = os.pipe()
    os.close(read_end)
    command = [sys.executable, "-m", "funchost", "pack", "--list-included-files"]
    try:
        done = subprocess.run(
            command, cwd=app, env=host_env, stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write_end)
    errors = done.stderr.decode()
    assert "Traceback" not in errors and "Broken pipe" not in errors, errors
    assert done.returncode == 141
