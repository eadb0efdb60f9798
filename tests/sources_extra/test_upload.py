"""Uploads: .txt (UTF-8, BOM, windows-1251, koi8-r), .md and .docx become one document, whole."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from app.sources.upload import UploadError, decode_text, parse_upload

UPLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "uploads"

RUSSIAN = (
    "Новости Северного порта\n"
    "\n"
    "В понедельник в порту открылся новый причал. Съешь же ещё этих мягких французских булок, "
    "да выпей чаю.\n"
    "\n"
    "Мэр города назвал это событие «историческим»."
)


# --- .txt -----------------------------------------------------------------------------------------


def test_txt_fixture_with_crlf() -> None:
    doc = parse_upload("notes.txt", (UPLOADS / "notes.txt").read_bytes())
    assert doc.title == "Quarterly notes"
    assert doc.text == (
        "Quarterly notes\n\nSales rose in every region.\nThe north grew fastest.\n\nNext review: October."
    )
    assert "<p>Sales rose in every region.<br>The north grew fastest.</p>" in doc.html
    assert doc.word_count == 14


def test_txt_windows_1251_russian() -> None:
    data = RUSSIAN.encode("windows-1251")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    doc = parse_upload("новости.txt", data)
    assert doc.text == RUSSIAN
    assert doc.title == "Новости Северного порта"


def test_txt_koi8_r_russian() -> None:
    text = RUSSIAN.replace("«", '"').replace("»", '"')  # koi8-r has no guillemets
    doc = parse_upload("news.TXT", text.encode("koi8-r"))
    assert doc.text == text


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_txt_with_a_byte_order_mark(encoding: str) -> None:
    data = RUSSIAN.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    assert parse_upload("a.txt", data).text == RUSSIAN


def test_txt_title_is_the_first_line_shortened() -> None:
    # Leading blank lines are skipped; a full Windows path as the file name still works.
    assert parse_upload("C:\\Users\\anna\\Отчёт за май.txt", b"\n\n   \n\xc2\xa0Hello").title == "Hello"
    long_line = "word " * 100
    title = parse_upload("a.txt", long_line.encode()).title
    assert len(title) <= 200 and title.endswith("…")
    # A file of only blank lines has no text to keep.
    with pytest.raises(UploadError, match="no text"):
        parse_upload("blank.txt", b"  \n\t\n")


def test_long_text_survives_whole() -> None:
    paragraph = "Это длинный текст, который потом разрежут на сцены. " * 20
    text = "\n\n".join(f"Часть {i}. {paragraph.strip()}" for i in range(300))
    assert len(text) > 300_000
    doc = parse_upload("long.txt", text.encode("utf-8"))
    assert doc.text == text
    assert doc.word_count > 40_000
    md = parse_upload("long.md", text.encode("utf-8"))
    assert md.text == text


def test_undecodable_text_is_refused() -> None:
    with pytest.raises(UploadError, match="does not look like text"):
        parse_upload("binary.txt", bytes(range(256)) * 4)


def test_without_chardet_legacy_text_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.sources.upload as upload

    monkeypatch.setattr(upload, "chardet", None)
    with pytest.raises(UploadError, match="not in UTF-8"):
        decode_text(RUSSIAN.encode("windows-1251"))


# --- errors common to every kind -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["photo.jpg", "report.doc", "README", "archive.txt.zip", ".txt"])
def test_unsupported_extension(name: str) -> None:
    with pytest.raises(UploadError) as caught:
        parse_upload(name, b"hello")
    assert caught.value.message == "Upload a .txt, .md or .docx file."


def test_empty_and_too_large() -> None:
    with pytest.raises(UploadError) as caught:
        parse_upload("a.txt", b"")
    assert caught.value.message == "The file is empty."
    with pytest.raises(UploadError) as caught:
        parse_upload("a.txt", b"x" * (10 * 1024 * 1024 + 1))
    assert caught.value.message == "The file is larger than 10 MB."
    assert parse_upload("a.txt", b"x" * (10 * 1024 * 1024)).word_count == 1  # exactly the limit is fine
    with pytest.raises(UploadError, match="larger than 100 bytes"):
        parse_upload("a.md", b"x" * 101, max_bytes=100)


# --- .md ------------------------------------------------------------------------------------------


def test_markdown_fixture() -> None:
    doc = parse_upload("article.md", (UPLOADS / "article.md").read_bytes())
    assert doc.title == "Northwind opens a new harbour"
    assert doc.text.split("\n\n") == [
        "Northwind opens a new harbour",
        "Northwind Traders opened its new harbour in Porto on Monday, the company said in a press release. "
        "The harbour can take ships of up to 300 metres.",
        "What changes",
        "Two new cranes\nA rail link to the city that opens in spring\nwith a stop at the old market\n"
        "1. Phase one: 2025\n2. Phase two: 2027",
        "\u201cWe have waited for this for ten years,\u201d said the mayor, Ana Souza.".replace("\u201c", '"').replace(
            "\u201d", '"'
        ),
        "Berth | Length\nNorth | 300 m\nSouth | 250 m",
        "ships_per_year = 1_200",
        "Read more at https://northwind.example/harbour or see the map.",
    ]
    html = doc.html
    assert "<h1>Northwind opens a <em>new</em> harbour</h1>" in html
    assert "<h2>What changes</h2>" in html
    assert (
        '<a href="https://northwind.example/news/harbour" rel="noopener noreferrer nofollow">press release</a>' in html
    )
    assert "<ul><li>Two new cranes</li><li>A rail link to the city that opens in spring<ul><li>" in html
    assert "<ol><li>Phase one: 2025</li>" in html
    assert "<blockquote>" in html and "<table>" in html and "<pre><code>ships_per_year" in html
    assert 'href="https://maps.example/porto"' in html


def test_markdown_title_without_heading_and_unsafe_markup() -> None:
    source = (
        "Just a **first** line\n"
        "continues here.\n\n"
        '<script>alert("x")</script> [click](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n'
        "snake_case_names and 2 * 3 * 4 stay; \\*escaped\\* too; a [missing] ref.\n"
    )
    doc = parse_upload("notes.md", source.encode())
    assert doc.title == "Just a first line continues here."
    assert "<script" not in doc.html and "javascript:" not in doc.html and "onerror" not in doc.html
    assert "click" in doc.text
    assert "snake_case_names and 2 * 3 * 4 stay; *escaped* too; a [missing] ref." in doc.text


def test_markdown_in_windows_1251() -> None:
    doc = parse_upload("заметка.md", "# Заголовок\n\nТекст **жирный**.".encode("windows-1251"))
    assert doc.title == "Заголовок"
    assert doc.text == "Заголовок\n\nТекст жирный."


def test_markdown_setext_and_hard_breaks() -> None:
    doc = parse_upload("a.md", b"Title here\n==========\n\nline one  \nline two\nsame line\n")
    assert doc.title == "Title here"
    assert doc.text == "Title here\n\nline one\nline two same line"
    assert "<p>line one<br>line two same line</p>" in doc.html


# --- .docx ----------------------------------------------------------------------------------------


def make_docx(*, core_title: str = "", with_table: bool = True, long_text: str | None = None) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = core_title
    document.add_paragraph("Отчёт о работе порта", style="Title")
    document.add_paragraph("Вступление: в мае порт принял 120 судов.")
    document.add_heading("Итоги", level=1)
    document.add_paragraph("Первый пункт", style="List Bullet")
    document.add_paragraph("Второй пункт", style="List Bullet")
    if with_table:
        table = document.add_table(rows=2, cols=2)
        table.cell(0, 0).text = "Месяц"
        table.cell(0, 1).text = "Судов"
        table.cell(1, 0).text = "Май"
        table.cell(1, 1).text = "120"
    paragraph = document.add_paragraph("Заключение с ")
    paragraph.add_run("жирным").bold = True
    paragraph.add_run(" словом.")
    document.add_paragraph("")  # empty paragraphs are dropped
    if long_text is not None:
        document.add_paragraph(long_text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_paragraphs_tables_and_headings_in_order() -> None:
    doc = parse_upload("отчёт.docx", make_docx())
    assert doc.title == "Отчёт о работе порта"  # the Title-style paragraph
    assert doc.text.split("\n\n") == [
        "Отчёт о работе порта",
        "Вступление: в мае порт принял 120 судов.",
        "Итоги",
        "Первый пункт",
        "Второй пункт",
        "Месяц | Судов\nМай | 120",
        "Заключение с жирным словом.",
    ]
    assert "<h1>Отчёт о работе порта</h1>" in doc.html
    assert "<ul><li>Первый пункт</li><li>Второй пункт</li></ul>" in doc.html.replace("\n", "")
    assert "<td>Май</td><td>120</td>" in doc.html


def test_docx_core_title_wins() -> None:
    assert parse_upload("a.docx", make_docx(core_title="  Port report May  ")).title == "Port report May"


def test_docx_first_paragraph_when_no_heading(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("")
    document.add_paragraph("Plain first paragraph.\nWith a second line.")
    document.add_paragraph("Another.")
    path = tmp_path / "plain.docx"
    document.save(str(path))
    doc = parse_upload(path.name, path.read_bytes())
    assert doc.title == "Plain first paragraph."
    assert doc.text == "Plain first paragraph.\nWith a second line.\n\nAnother."


def test_docx_with_only_a_table_is_titled_by_its_file_name() -> None:
    import docx

    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    for i, word in enumerate(["Порт", "Судов", "120"]):
        table.cell(0, i).text = word
    table.cell(0, 1).merge(table.cell(0, 2))  # a merged cell counts once
    buffer = io.BytesIO()
    document.save(buffer)
    doc = parse_upload("Сводка за май.docx", buffer.getvalue())
    assert doc.title == "Сводка за май"
    assert doc.text == "Порт | Судов\n120"


def test_docx_long_text_survives_whole() -> None:
    long_text = "Очень длинный абзац без единого разрыва. " * 8000
    assert len(long_text) > 300_000
    doc = parse_upload("long.docx", make_docx(with_table=False, long_text=long_text.strip()))
    assert doc.text.endswith(long_text.strip())
    assert len(doc.text) > 300_000


def test_not_really_docx() -> None:
    for data in (b"plain text pretending", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100):
        with pytest.raises(UploadError, match="not a real .docx"):
            parse_upload("renamed.docx", data)
    # A valid zip that is not a Word document.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(UploadError, match="not a real .docx"):
        parse_upload("zip.docx", buffer.getvalue())


def test_broken_docx() -> None:
    good = make_docx()
    with pytest.raises(UploadError, match="damaged"):
        parse_upload("cut.docx", good[: len(good) // 2])
    # Right parts, broken XML inside.
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                data = data[: len(data) // 2]
            target.writestr(item, data)
    with pytest.raises(UploadError, match="damaged"):
        parse_upload("broken.docx", buffer.getvalue())
