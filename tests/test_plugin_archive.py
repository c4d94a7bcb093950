"""Unpacking plugin packages: what the end-to-end install tests do not reach
(tar links, compression ratio, corrupt files, how the package is found)."""

import io
import tarfile
import zipfile

import pytest

from peek.plugin_system.archive import ArchiveError, Limits, unpack_plugin

MANIFEST = "peek_plugin_tarc/plugin_package.json"


def make_zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def make_tar(path, add):
    with tarfile.open(path, "w:gz") as tar:
        add(tar)
    return path


def add_file(tar, name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def refused(archive, dest, match, limits=Limits()):
    with pytest.raises(ArchiveError, match=match):
        unpack_plugin(archive, dest, limits)
    assert not dest.exists(), "a refused archive left files behind"


def test_a_wheel_is_found_with_its_version_and_requirements(tmp_path):
    wheel = make_zip(tmp_path / "p.whl", {
        MANIFEST: "{}", "peek_plugin_tarc/__init__.py": "",
        "peek_plugin_tarc-1.2.0.dist-info/METADATA":
            "Name: peek_plugin_tarc\nVersion: 1.2.0\nRequires-Dist: requests>=2\n"})
    unpacked = unpack_plugin(wheel, tmp_path / "out")
    assert (unpacked.kind, unpacked.name, unpacked.version) == ("wheel", "peek_plugin_tarc", "1.2.0")
    assert unpacked.requires_dist == ("requests>=2",)
    assert (unpacked.package_dir / "__init__.py").is_file()
    assert oct((unpacked.package_dir / "__init__.py").stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_tar_links_and_devices_are_refused(tmp_path, kind):
    def add(tar):
        add_file(tar, f"p-1.0/src/{MANIFEST}", b"{}")
        info = tarfile.TarInfo("p-1.0/src/peek_plugin_tarc/other")
        info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                     "fifo": tarfile.FIFOTYPE}[kind]
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    archive = make_tar(tmp_path / "p-1.0.tar.gz", add)
    what = {"symlink": "a symbolic link", "hardlink": "a hard link", "fifo": "a device or fifo"}
    refused(archive, tmp_path / "out", f"'p-1.0/src/peek_plugin_tarc/other' is {what[kind]}")


def test_a_highly_compressed_member_is_refused_before_it_is_written(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {MANIFEST: "{}",
                                            "peek_plugin_tarc/zeros": bytes(8 * 2**20)})
    refused(archive, tmp_path / "out", "'peek_plugin_tarc/zeros' is compressed more than 200 to 1")


def test_too_much_data_or_too_many_members_are_refused(tmp_path):
    def add(tar):
        add_file(tar, f"p-1.0/{MANIFEST}", b"{}")
        add_file(tar, "p-1.0/peek_plugin_tarc/big", bytes(3 * 2**20))
    archive = make_tar(tmp_path / "p-1.0.tar.gz", add)
    refused(archive, tmp_path / "out", "unpacks to 3 MiB, more than the 2 MiB accepted",
            Limits(max_unpacked_bytes=2 * 2**20))
    refused(archive, tmp_path / "out", "2 members, more than the 1 accepted", Limits(max_members=1))


@pytest.mark.parametrize("name", ["p.zip", "p.tar.gz", "p.whl"])
def test_a_corrupt_or_truncated_file_is_a_clear_error(tmp_path, name):
    good = tmp_path / ("good.tar.gz" if name.endswith("gz") else "good.zip")
    if name.endswith("gz"):
        make_tar(good, lambda tar: add_file(tar, f"p/{MANIFEST}", bytes(100000)))
    else:
        make_zip(good, {MANIFEST: bytes(100000)})
    broken = tmp_path / name
    broken.write_bytes(good.read_bytes()[:200])
    refused(broken, tmp_path / "out", f"{name}: cannot be read as")


def test_the_package_must_be_one_and_have_a_manifest(tmp_path):
    two = make_zip(tmp_path / "two.zip", {MANIFEST: "{}",
                                         "peek_plugin_tother/plugin_package.json": "{}"})
    refused(two, tmp_path / "out", "holds 2 plugin packages")
    bare = make_zip(tmp_path / "bare.zip", {"src/peek_plugin_tarc/__init__.py": ""})
    refused(bare, tmp_path / "out", "peek_plugin_tarc has no plugin_package.json")
    dupes = tmp_path / "dupes.zip"
    with zipfile.ZipFile(dupes, "w") as archive:
        archive.writestr(MANIFEST, "{}")
        with pytest.warns(UserWarning):
            archive.writestr(MANIFEST, "{}")
    refused(dupes, tmp_path / "out", "members appear twice")


def test_an_oversized_archive_is_refused_unopened(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {MANIFEST: "{}"})
    refused(archive, tmp_path / "out", "larger than the 0 MiB accepted", Limits(max_archive_bytes=10))
