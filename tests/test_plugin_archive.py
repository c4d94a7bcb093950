"""Unpacking plugin packages safely: wheels, sdists and zips of a source tree.

Every archive is built here with zipfile/tarfile; each refused one must say
what is wrong (naming the member where there is one) and leave nothing behind.
"""

import io
import os
import re
import stat
import tarfile
import zipfile

import pytest

from peek.plugin_system.archive import ArchiveError, Limits, unpack_plugin

NAME = "peek_plugin_tarc"
MANIFEST = f"{NAME}/plugin_package.json"
PLUGIN = {MANIFEST: "{}", f"{NAME}/__init__.py": "VALUE = 1\n"}
MIB = 2**20


def make_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    """A zip of ``{name or ZipInfo: data}``."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def tar_file(name, data=b"", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, io.BytesIO(data)


def tar_entry(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def make_tar(path, entries):
    """A .tar.gz of ``(TarInfo, fileobj)`` pairs."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            tar.addfile(info, data)
    return path


def sdist_entries(top="peek-plugin-tarc-1.0.0", metadata=""):
    return [tar_file(f"{top}/PKG-INFO", metadata.encode()),
            *(tar_file(f"{top}/src/{name}", data.encode()) for name, data in PLUGIN.items())]


def refused(archive, dest, message, limits=Limits()):
    """Unpacking fails with ``message`` in the error and leaves no ``dest``."""
    with pytest.raises(ArchiveError, match=re.escape(message)):
        unpack_plugin(archive, dest, limits)
    assert not dest.exists(), "a refused archive left files behind"


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# -- what is accepted -------------------------------------------------------------------
def test_a_wheel_gives_its_package_version_and_requirements(tmp_path):
    dist = f"{NAME}-1.2.0.dist-info"
    wheel = make_zip(tmp_path / f"{NAME}-1.2.0-py3-none-any.whl", {
        **PLUGIN, f"{NAME}/static/app.js": "x",
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: peek_plugin_tarc\nVersion: 1.2.0\n"
                            "Requires-Dist: requests>=2\n"
                            "Requires-Dist: pyyaml; extra == \"yaml\"\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\n"})
    unpacked = unpack_plugin(wheel, tmp_path / "out")
    assert unpacked.kind == "wheel" and unpacked.name == NAME
    assert unpacked.root == tmp_path / "out"
    assert unpacked.package_dir == tmp_path / "out" / NAME
    assert files_under(unpacked.package_dir) == ["__init__.py", "plugin_package.json",
                                                 "static/app.js"]
    assert (unpacked.package_dir / "__init__.py").read_text() == "VALUE = 1\n"
    assert unpacked.requires_dist == ("requests>=2", 'pyyaml; extra == "yaml"')
    assert unpacked.version == "1.2.0"


def test_an_sdist_with_a_src_layout_gives_its_package_and_pkg_info(tmp_path):
    sdist = make_tar(tmp_path / "peek-plugin-tarc-1.0.0.tar.gz", sdist_entries(
        metadata="Metadata-Version: 2.1\nName: peek-plugin-tarc\nVersion: 1.0.0\n"
                 "Requires-Dist: attrs>=20\n"))
    unpacked = unpack_plugin(sdist, tmp_path / "out")
    assert unpacked.kind == "sdist" and unpacked.name == NAME
    assert unpacked.package_dir == tmp_path / "out" / "peek-plugin-tarc-1.0.0" / "src" / NAME
    assert files_under(unpacked.package_dir) == ["__init__.py", "plugin_package.json"]
    assert (unpacked.requires_dist, unpacked.version) == (("attrs>=20",), "1.0.0")


def test_a_zip_of_a_source_tree_is_searched_below_its_top_folder(tmp_path):
    source = make_zip(tmp_path / "source.zip", {
        "myproject/README.md": "hi", **{f"myproject/{n}": d for n, d in PLUGIN.items()}})
    unpacked = unpack_plugin(source, tmp_path / "out")
    assert (unpacked.kind, unpacked.name) == ("zip", NAME)
    assert unpacked.package_dir == tmp_path / "out" / "myproject" / NAME
    assert (unpacked.requires_dist, unpacked.version) == ((), None)


def test_member_names_starting_with_dot_slash_are_accepted(tmp_path):
    sdist = make_tar(tmp_path / "p-1.0.tgz", [  # as `tar czf p-1.0.tgz -C dist .` makes it
        tar_entry("./", tarfile.DIRTYPE), tar_entry("./p-1.0", tarfile.DIRTYPE),
        *(tar_file(f"./p-1.0/{name}", data.encode()) for name, data in PLUGIN.items())])
    assert unpack_plugin(sdist, tmp_path / "out").package_dir == tmp_path / "out" / "p-1.0" / NAME


def test_extracted_files_get_plain_permissions(tmp_path):
    sdist = make_tar(tmp_path / "p-1.0.tgz", [
        tar_entry("p-1.0/src/peek_plugin_tarc", tarfile.DIRTYPE),
        tar_file(f"p-1.0/src/{MANIFEST}", b"{}", mode=0o4777),
        tar_file(f"p-1.0/src/{NAME}/run.sh", b"#!/bin/sh\n", mode=0o6755)])
    umask = os.umask(0)  # so the modes below come from the unpacking, not the umask
    try:
        package_dir = unpack_plugin(sdist, tmp_path / "out").package_dir
    finally:
        os.umask(umask)
    assert stat.S_IMODE((package_dir / "run.sh").stat().st_mode) == 0o644
    assert stat.S_IMODE((package_dir / "plugin_package.json").stat().st_mode) == 0o644
    assert stat.S_IMODE(package_dir.stat().st_mode) == 0o755


# -- members that would escape, or are not plain files ----------------------------------
@pytest.mark.parametrize("member, problem", [
    ("../evil.txt", "'..' in its path"),
    (f"{NAME}/../../evil.txt", "'..' in its path"),
    ("/tmp/evil.txt", "an absolute path"),
    ("C:/evil.txt", "an absolute path"),
    ("\\evil.txt", "a backslash"),
    (f"{NAME}\\..\\..\\evil.txt", "a backslash"),
])
def test_members_pointing_outside_are_refused_before_anything_is_written(
        tmp_path, member, problem):
    (tmp_path / "work").mkdir()
    archive = make_zip(tmp_path / "work" / "evil.zip", {**PLUGIN, member: "pwned"})
    refused(archive, tmp_path / "work" / "out", f"evil.zip: member {member!r} has {problem}")
    assert files_under(tmp_path) == ["work/evil.zip"]


def test_an_empty_or_nul_member_name_is_refused(tmp_path):
    empty = make_tar(tmp_path / "empty.tgz", [*sdist_entries("p"), tar_file("", b"x")])
    refused(empty, tmp_path / "out", "empty.tgz: member '' has an empty name")
    dot = make_tar(tmp_path / "dot.tgz", [*sdist_entries("p"), tar_file("./", b"x")])
    refused(dot, tmp_path / "out", "dot.tgz: member './' has an empty name")
    raw = make_zip(tmp_path / "nul.zip", {**PLUGIN, f"{NAME}/aXb": "x"}).read_bytes()
    nul = tmp_path / "nul.zip"
    nul.write_bytes(raw.replace(b"/aXb", b"/a\0b"))  # zipfile will not write a NUL itself
    refused(nul, tmp_path / "out", f"nul.zip: member '{NAME}/a\\x00b' has a backslash or NUL")


def test_a_symlink_in_a_zip_is_refused(tmp_path):
    link = zipfile.ZipInfo(f"{NAME}/passwd")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(tmp_path / "p.zip", {**PLUGIN, link: "/etc/passwd"})
    refused(archive, tmp_path / "out", f"p.zip: member '{NAME}/passwd' is a symbolic link")


def test_an_encrypted_zip_member_is_refused(tmp_path):
    raw = bytearray(make_zip(tmp_path / "p.zip", PLUGIN).read_bytes())
    central = raw.find(b"PK\x01\x02")  # the first entry of the central directory
    raw[central + 8] |= 0x1            # its "encrypted" flag; zipfile cannot set it
    (tmp_path / "p.zip").write_bytes(raw)
    refused(tmp_path / "p.zip", tmp_path / "out", f"p.zip: member '{MANIFEST}' is encrypted")


@pytest.mark.parametrize("kind, what", [
    (tarfile.SYMTYPE, "a symbolic link"),
    (tarfile.LNKTYPE, "a hard link"),
    (tarfile.FIFOTYPE, "a device or fifo"),
    (tarfile.CHRTYPE, "a device or fifo"),
])
def test_tar_links_and_devices_are_refused(tmp_path, kind, what):
    archive = make_tar(tmp_path / "p-1.0.tar.gz", [
        *sdist_entries("p-1.0"), tar_entry(f"p-1.0/src/{NAME}/other", kind, "/etc/passwd")])
    refused(archive, tmp_path / "out", f"p-1.0.tar.gz: member 'p-1.0/src/{NAME}/other' is {what}")


def test_duplicate_members_and_files_used_as_folders_are_refused(tmp_path):
    dupes = make_tar(tmp_path / "dupes.tar.gz", [*sdist_entries("p"), *sdist_entries("p")[1:2]])
    refused(dupes, tmp_path / "out", f"dupes.tar.gz: member 'p/src/{MANIFEST}' appears twice")
    clash = make_zip(tmp_path / "clash.zip", {**PLUGIN, f"{NAME}/data": "x",
                                              f"{NAME}/data/more": "y"})
    refused(clash, tmp_path / "out",
            f"clash.zip: member '{NAME}/data/more' is inside '{NAME}/data', which is a file")


# -- sizes -------------------------------------------------------------------------------
SMALL = Limits(max_unpacked_bytes=5 * MIB)


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path):
    bomb = make_zip(tmp_path / "bomb.zip", {**PLUGIN, f"{NAME}/zeros": bytes(20 * MIB)})
    refused(bomb, tmp_path / "out", "bomb.zip: unpacks to 20.0 MiB, more than the 5.0 MiB accepted",
            SMALL)


def test_a_member_compressed_beyond_the_ratio_is_refused(tmp_path):
    zipped = make_zip(tmp_path / "p.zip", {**PLUGIN, f"{NAME}/zeros": bytes(4 * MIB)})
    refused(zipped, tmp_path / "out",
            f"p.zip: member '{NAME}/zeros' is compressed more than 200 to 1", SMALL)
    tarred = make_tar(tmp_path / "p-1.0.tar.gz", [
        *sdist_entries("p-1.0"), tar_file(f"p-1.0/src/{NAME}/zeros", bytes(4 * MIB))])
    refused(tarred, tmp_path / "out",
            f"p-1.0.tar.gz: member 'p-1.0/src/{NAME}/zeros' is compressed more than 200 to 1",
            SMALL)


def test_a_large_member_that_does_not_compress_much_is_accepted(tmp_path):
    stored = make_zip(tmp_path / "p.zip", {**PLUGIN, f"{NAME}/zeros": bytes(4 * MIB)},
                      compression=zipfile.ZIP_STORED)
    assert (unpack_plugin(stored, tmp_path / "out", SMALL).package_dir / "zeros").stat().st_size \
        == 4 * MIB


def test_too_many_members_are_refused(tmp_path):
    members = {**PLUGIN, **{f"{NAME}/f{i}": "" for i in range(10)}}
    refused(make_zip(tmp_path / "p.zip", members), tmp_path / "out",
            "p.zip: more than the 10 members accepted", Limits(max_members=10))
    entries = [*sdist_entries("p"), *(tar_file(f"p/src/{NAME}/f{i}") for i in range(10))]
    refused(make_tar(tmp_path / "p.tar.gz", entries), tmp_path / "out",
            "p.tar.gz: more than the 10 members accepted", Limits(max_members=10))
    assert unpack_plugin(make_zip(tmp_path / "ok.zip", members), tmp_path / "ok",
                         Limits(max_members=12)).name == NAME


def test_an_oversized_archive_is_refused_unopened(tmp_path):
    archive = make_zip(tmp_path / "p.zip", PLUGIN)
    refused(archive, tmp_path / "out", f"p.zip: {archive.stat().st_size} bytes, larger than "
                                       "the 100 bytes accepted", Limits(max_archive_bytes=100))


# -- files that are not (readable) packages ----------------------------------------------
def test_a_file_of_another_kind_is_refused_by_its_name(tmp_path):
    archive = make_zip(tmp_path / "plugin.rar", PLUGIN)
    refused(archive, tmp_path / "out", "plugin.rar: not a plugin package; expected a wheel "
                                       "(.whl), an sdist (.tar.gz, .tgz) or a zip")


def test_content_that_does_not_match_the_name_is_refused(tmp_path):
    tar_as_wheel = make_tar(tmp_path / "p.whl", sdist_entries())
    refused(tar_as_wheel, tmp_path / "out", "p.whl: not a valid zip file")
    zip_as_sdist = make_zip(tmp_path / "p.tar.gz", PLUGIN)
    refused(zip_as_sdist, tmp_path / "out", "p.tar.gz: not a valid tar file")
    plain_tar = tmp_path / "plain.tar.gz"
    with tarfile.open(plain_tar, "w") as tar:  # an uncompressed tar
        tar.addfile(*tar_file(MANIFEST, b"{}"))
    refused(plain_tar, tmp_path / "out", "plain.tar.gz: damaged or truncated sdist file: "
                                         "not a gzip file")


def test_truncated_or_corrupt_archives_are_clear_errors(tmp_path):
    big = {**PLUGIN, f"{NAME}/data.bin": bytes(range(256)) * 400}
    good_zip = make_zip(tmp_path / "good.zip", big).read_bytes()
    (tmp_path / "cut.zip").write_bytes(good_zip[:len(good_zip) // 2])
    refused(tmp_path / "cut.zip", tmp_path / "out", "cut.zip: not a valid zip file")
    corrupt = bytearray(good_zip)
    start = good_zip.find(b"data.bin") + len("data.bin")  # its compressed data follows
    corrupt[start + 20:start + 60] = bytes(40)
    (tmp_path / "bad.zip").write_bytes(corrupt)
    refused(tmp_path / "bad.zip", tmp_path / "out", "bad.zip: damaged or truncated zip file")

    good_tar = make_tar(tmp_path / "good.tar.gz", [
        *sdist_entries("p"), tar_file(f"p/src/{NAME}/data.bin", bytes(range(256)) * 400)])
    (tmp_path / "cut.tar.gz").write_bytes(good_tar.read_bytes()[:-200])
    refused(tmp_path / "cut.tar.gz", tmp_path / "out", "cut.tar.gz: damaged or truncated sdist")
    (tmp_path / "junk.tgz").write_bytes(b"\x1f\x8b" + bytes(300))
    refused(tmp_path / "junk.tgz", tmp_path / "out", "junk.tgz: not a valid tar file")


# -- finding the one plugin package -----------------------------------------------------
def test_an_archive_without_a_plugin_package_is_refused(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {"project/README.md": "hi",
                                            "project/mylib/__init__.py": ""})
    refused(archive, tmp_path / "out", "p.zip: no plugin package in it (a folder named "
                                       "peek_plugin_<name> or peek_core_<name> holding "
                                       "plugin_package.json)")


def test_two_plugin_packages_are_refused_by_name(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {
        **PLUGIN, "extra/peek_core_tother/plugin_package.json": "{}"})
    refused(archive, tmp_path / "out", f"p.zip: holds 2 plugin packages "
                                       f"(extra/peek_core_tother, {NAME})")


def test_a_plugin_folder_without_its_manifest_is_named(tmp_path):
    archive = make_zip(tmp_path / "p.zip", {f"src/{NAME}/__init__.py": ""})
    refused(archive, tmp_path / "out",
            f"p.zip: no plugin package; plugin_package.json is missing from src/{NAME}")


def test_a_wheel_package_must_sit_at_the_root(tmp_path):
    wheel = make_zip(tmp_path / "p.whl", {f"lib/{name}": data for name, data in PLUGIN.items()})
    refused(wheel, tmp_path / "out", "p.whl: no plugin package in it")


# -- the destination ---------------------------------------------------------------------
def test_a_destination_with_files_in_it_is_left_alone(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ArchiveError, match="cannot unpack into .*out: it is not empty"):
        unpack_plugin(make_zip(tmp_path / "p.zip", PLUGIN), dest)
    assert files_under(dest) == ["keep.txt"]


def test_an_empty_destination_is_used_and_removed_on_failure(tmp_path):
    (tmp_path / "ok").mkdir()
    assert unpack_plugin(make_zip(tmp_path / "p.zip", PLUGIN), tmp_path / "ok").name == NAME
    (tmp_path / "bad").mkdir()
    refused(make_zip(tmp_path / "none.zip", {"README": "x"}), tmp_path / "bad",
            "none.zip: no plugin package")
