import pytest

from storage.keys import safe_filename


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("document.png", "document.png"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\x.png", "x.png"),
        ("/abs/path/scan.pdf", "scan.pdf"),
        ("na\x00me.png", "name.png"),
        ("line\nbreak.png", "linebreak.png"),
        ("\u202egnp.exe", "gnp.exe"),
        ("..", "upload"),
        ("", "upload"),
        ("${filename}", "filename"),
        ("rapport d'été.pdf", "rapport d_été.pdf"),
    ],
)
def test_safe_filename(raw, safe):
    assert safe_filename(raw) == safe


def test_long_names_keep_their_extension():
    name = safe_filename("a" * 1000 + ".tiff")
    assert len(name) <= 180
    assert name.endswith(".tiff")
