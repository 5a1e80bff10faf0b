"""Evidence: a photo from an iPhone's camera (HEIC) is accepted as an image, not as a video."""

from services.intake.domain.evidence import EXTENSIONS, sniff


def test_heic_photos_are_images() -> None:
    for brand in (b"heic", b"heix", b"mif1"):
        head = b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00"
        assert sniff(head) == "image/heic"
    assert EXTENSIONS["image/heic"] == "heic"
    assert sniff(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00") == "video/mp4"
