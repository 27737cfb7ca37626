"""A printable QR-code poster per gate (R-GATE): PNG and PDF, A4 at 150 dpi.

The QR code (segno) holds the gate's deep link; scanning it opens the bot, which records
the resident's own passage. Captions name the compound and gate in Chinese when a CJK
font is installed (see CJK_FONT_CANDIDATES); otherwise the poster carries ASCII captions
(the gate number and an English call to action) in the DejaVu font matplotlib ships, so it
always renders, offline.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

A4_150DPI = (1240, 1754)
CJK_FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


@dataclass(frozen=True)
class Poster:
    png: bytes
    pdf: bytes
    cjk: bool


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start=gate_{token}"


def qr_code(url: str) -> segno.QRCode:
    """The poster's QR code (error correction M survives a crease or a smudge)."""
    return segno.make(url, error="m", micro=False)


def cjk_font_path() -> Path | None:
    for candidate in CJK_FONT_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    return None


def _ascii_font_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, font: ImageFont.FreeTypeFont) -> None:
    width = draw.textlength(text, font=font)
    draw.text(((A4_150DPI[0] - width) / 2, y), text, fill="black", font=font)


def render_poster(
    url: str, *, title: str, subtitle: str, ascii_title: str, ascii_subtitle: str
) -> Poster:
    """Render the poster of one gate. `title`/`subtitle` are used with a CJK font,
    `ascii_title`/`ascii_subtitle` without one."""
    cjk = cjk_font_path()
    font_path = cjk or _ascii_font_path()
    if cjk is None:
        title, subtitle = ascii_title, ascii_subtitle
    big = ImageFont.truetype(str(font_path), 72)
    small = ImageFont.truetype(str(font_path), 40)
    tiny = ImageFont.truetype(str(_ascii_font_path()), 24)
    page = Image.new("RGB", A4_150DPI, "white")
    draw = ImageDraw.Draw(page)
    _centered(draw, 140, title, big)
    _centered(draw, 260, subtitle, small)
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="png", scale=24, border=2)
    qr = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    side = min(900, qr.width)
    qr = qr.resize((side, side), Image.Resampling.NEAREST)
    page.paste(qr, ((A4_150DPI[0] - side) // 2, 380))
    _centered(draw, 380 + side + 40, url, tiny)
    png, pdf = io.BytesIO(), io.BytesIO()
    page.save(png, format="PNG", optimize=True)
    page.save(pdf, format="PDF", resolution=150.0)
    return Poster(png.getvalue(), pdf.getvalue(), cjk is not None)
