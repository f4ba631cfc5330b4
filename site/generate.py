#!/usr/bin/python3
"""The tutorial as a static website: ./tutorial site (or site/generate.py [--out DIR]).

How it works. Everything comes from files the test suite already checks, so the site cannot go
stale:
  - lessons/CMakeLists.txt, one add_lesson() line per lesson (number, PART, TITLE, ASYNCIO,
    USES): the list of lessons. A new line there gives a new page, with no other step.
  - progression.md: the intro, the parts ("## Part ..."), and each lesson's entry
    ("### NNN_topic: Title" up to the next heading); the "*prerequisites:*" of an entry.
  - lessons/NNN_topic/: the header(s) and teaching code, main.cpp (the demonstration), the
    "// How it is built" files (folded), and expected_output.txt, quoted byte for byte.
  - tests/test_NNN_topic*.cpp (a page of their own) and exercises/NNN_topic/ if it exists.
  - docs/*.md: the asyncio-to-asio map, pitfalls, performance, writing a lesson.
Markdown is converted by markdown_to_html() below: only the subset these files use (ATX
headings, paragraphs, fenced code, pipe tables, "-" and "1." lists with indented continuation
lines, `code`, **bold**, *italic*, [links](target)). Links between repository files become
links between pages (lessons/NNN_topic/ -> lessons/NNN_topic.html); a repository file that has
no page is shown as its path. C++ is highlighted by Pygments (Debian's python3-pygments), with
its comments left where they are, next to the code they explain. No JavaScript; one CSS file.
site/check_site.py and site/browser_check.py check the result (CTest label `site`).
"""
import argparse
import html
import os
import posixpath
import re
import shutil
import sys
from pathlib import Path

try:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import BashLexer, CppLexer
except ImportError:
    sys.exit("site: needs Pygments, Debian's python3-pygments (apt-get install python3-pygments; "
             "./tutorial site installs it)")

ROOT = Path(__file__).resolve().parent.parent
SITE_TITLE = "Asynchronous C++ with Asio coroutines"
PLACEHOLDER = re.compile(r"\{[^}]*\}")  # cmake/CheckOutput.cmake's rule: {anything} matches any text


# ---- the lessons, from lessons/CMakeLists.txt ----------------------------------------------
def read_lessons(root=ROOT):
    """[{name, number, part, title, asyncio, uses}] in file order."""
    lessons = []
    for line in (root / "lessons/CMakeLists.txt").read_text().splitlines():
        m = re.match(r"add_lesson\((\S+)(.*)\)\s*$", line)
        if not m:
            continue
        rest = m.group(2)
        field = lambda key: (re.search(key + r' "([^"]*)"', rest) or [None, ""])[1]
        uses = re.search(r"\bUSES ((?:\S+ ?)+)$", rest)
        lessons.append(dict(name=m.group(1), number=m.group(1)[:3],
                            part=re.search(r"PART (\S+)", rest)[1], title=field("TITLE"),
                            asyncio=field("ASYNCIO"), uses=uses[1].split() if uses else []))
    return lessons


# ---- progression.md: intro, parts, one entry per lesson ------------------------------------
def read_progression(text):
    """(intro markdown, [{title, intro, lessons: [name]}], {name: entry markdown}, epilogue)."""
    intro, parts, entries, epilogue = [], [], {}, []
    current = intro
    in_fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        heading = None if in_fence else re.match(r"(#{1,3}) (.*)", line)
        if heading and len(heading[1]) == 2 and heading[2].startswith("Part "):
            parts.append(dict(title=heading[2], intro=[], lessons=[]))
            current = parts[-1]["intro"]
        elif heading and len(heading[1]) == 2:
            current = epilogue
            epilogue.append(line)
        elif heading and len(heading[1]) == 3 and re.match(r"\d{3}_\S+: ", heading[2]):
            name = heading[2].split(":")[0]
            parts[-1]["lessons"].append(name)
            current = entries.setdefault(name, [])
        elif heading and len(heading[1]) == 1:
            continue  # the document's title: the index has its own
        else:
            current.append(line)
    join = lambda lines: "\n".join(lines).strip("\n") + "\n"
    for part in parts:
        part["intro"] = join(part["intro"])
    return join(intro), parts, {k: join(v) for k, v in entries.items()}, join(epilogue)


def prerequisites(entry):
    m = re.search(r"\*prerequisites:\*\s*(.*)", entry or "")
    return m[1].strip() if m else ""


# ---- Markdown, the subset progression.md and docs/*.md use ---------------------------------
def slug(text, taken):
    base = re.sub(r"[^\w\- ]", "", re.sub(r"<[^>]+>", "", text).lower()).strip()
    base = base.replace(" ", "-") or "section"
    s, n = base, 1
    while s in taken:
        n += 1
        s = f"{base}-{n}"
    taken.add(s)
    return s


def inline(text, link):
    """Inline Markdown to HTML. link(target) -> href or None (None: show the text only)."""
    codes = []

    def keep_code(m):
        code = m[2].replace("\n", " ")  # a code span may go on over a line break
        code = code.strip() if m[1] == "``" else code
        codes.append("<code>" + html.escape(code, quote=False) + "</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = re.sub(r"(`+)(.+?)\1", keep_code, text, flags=re.S)
    text = re.sub(r"\\([\\`*_\[\]()#|<>!-])", lambda m: f"\x01{ord(m[1])}\x01", text)
    text = html.escape(text, quote=False)

    def make_link(m):
        href = link(html.unescape(m[2]))
        if href is None:
            return m[1]
        return f'<a href="{html.escape(href)}">{m[1]}</a>'

    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", make_link, text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(?![\s*])(.+?)(?<![\s*])\*(?![\w*])", r"<em>\1</em>", text)
    text = re.sub(r"\x01(\d+)\x01", lambda m: html.escape(chr(int(m[1])), quote=False), text)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m[1])], text)


LIST_ITEM = re.compile(r"( {0,3})([-*]|\d+\.) +(.*)")


def code_block(code, lang):
    if lang in ("sh", "bash", "shell"):
        return highlight(code, BashLexer(), HtmlFormatter(wrapcode=True))
    if lang in ("cpp", "c++"):
        return highlight(code, CppLexer(), HtmlFormatter(wrapcode=True))
    return f'<div class="highlight"><pre><code>{html.escape(code, quote=False)}</code></pre></div>\n'


def split_row(row):
    """The cells of a table row; `\\|` is a | inside a cell."""
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def markdown_to_html(text, link=lambda target: target, shift=0, taken=None):
    """Block-level Markdown to HTML. shift: added to heading levels (a section inside a page)."""
    taken = set() if taken is None else taken
    lines = text.split("\n")
    out, i = [], 0
    is_table = lambda i: (lines[i].startswith("|") and i + 1 < len(lines)
                          and re.match(r"\|? *:?-+", lines[i + 1]))
    starts_block = lambda i: (lines[i].startswith("```") or re.match(r"#{1,6} |[-*] |1\. ", lines[i])
                              or is_table(i))
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            lang, body, i = line[3:].strip(), [], i + 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1
            out.append(code_block("\n".join(body) + "\n", lang))
        elif m := re.match(r"(#{1,6}) +(.*?)#*\s*$", line):
            level = min(len(m[1]) + shift, 6)
            content = inline(m[2], link)
            out.append(f'<h{level} id="{slug(content, taken)}">{content}</h{level}>')
            i += 1
        elif is_table(i):
            head, i = split_row(line), i + 2
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            cell = lambda c: inline(c.replace("\\|", "|"), link)
            head = "".join(f'<th scope="col">{cell(c)}</th>' for c in head)
            body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>\n"
                           for row in rows)
            out.append(f'<div class="table"><table>\n<thead><tr>{head}</tr></thead>\n'
                       f"<tbody>\n{body}</tbody></table></div>")
        elif m := LIST_ITEM.match(line):
            ordered = m[2][0].isdigit()
            items = []
            while (i < len(lines) and (m := LIST_ITEM.match(lines[i])) and not m[1]
                   and m[2][0].isdigit() == ordered):
                body, i = [m[3]], i + 1
                indent = len(lines[i - 1]) - len(m[3])
                # continuation: indented lines, or blank lines followed by indented ones
                while i < len(lines) and (lines[i].startswith(" ") or (
                        not lines[i].strip() and lines[i + 1:i + 2] and lines[i + 1].startswith("  "))):
                    line = lines[i]
                    body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
                    i += 1
                inner = markdown_to_html("\n".join(body), link, shift, taken).strip("\n")
                if inner.startswith("<p>") and inner.count("<p>") == 1:
                    inner = inner[3:].replace("</p>", "", 1)
                items.append(f"<li>{inner}</li>")
                # a blank line between two items of the same list
                if i + 1 < len(lines) and not lines[i].strip() and LIST_ITEM.match(lines[i + 1]):
                    i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>\n" + "\n".join(items) + f"\n</{tag}>")
        else:
            para = [line]
            i += 1
            while i < len(lines) and lines[i].strip() and not starts_block(i):
                para.append(lines[i])
                i += 1
            out.append("<p>" + inline("\n".join(para), link) + "</p>")
    return "\n".join(out) + "\n"


# ---- links between repository files become links between pages ----------------------------
class Site:
    def __init__(self, root, lessons):
        self.root = root
        self.lessons = lessons
        self.docs = sorted(p.stem for p in (root / "docs").glob("*.md"))

    def page_of(self, repo_path):
        """The site page (relative to the site's root) showing a repository path, or None."""
        path, _, anchor = repo_path.partition("#")
        path = path.rstrip("/")
        anchor = "#" + anchor if anchor else ""
        m = re.match(r"lessons/(\d{3}_[^/]+)(?:/(.*))?$", path)
        if m and any(l["name"] == m[1] for l in self.lessons):
            if not anchor and m[2] == "expected_output.txt":
                anchor = "#output"
            elif not anchor and m[2] and re.fullmatch(r"[\w.-]+\.[ch]pp", m[2]):
                anchor = "#" + file_id(m[2])  # a file shown on the lesson's page
            return f"lessons/{m[1]}.html{anchor}"
        for lesson in self.lessons:  # tests/test_NNN_topic*.cpp: the lesson's tests page
            if re.fullmatch(rf"tests/test_{lesson['name']}\w*\.(cpp|hpp)", path):
                return f"tests/{lesson['name']}.html#{file_id(posixpath.basename(path))}"
        m = re.match(r"docs/([\w-]+)\.md$", path)
        if m and m[1] in self.docs:
            return f"{m[1]}.html{anchor}"
        if path in ("progression.md", "README.md", ""):
            return "index.html" + anchor
        return None

    def linker(self, source_dir, page):
        """link() for markdown_to_html: targets relative to source_dir, hrefs relative to page."""
        def link(target):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                return target
            repo_path = posixpath.normpath(posixpath.join(source_dir, target))
            dest = self.page_of("" if repo_path == "." else repo_path)
            if dest is None:
                return None
            dest, _, anchor = dest.partition("#")
            return posixpath.relpath(dest, posixpath.dirname(page) or ".") + ("#" + anchor if anchor else "")
        return link


def file_id(name):
    return "file-" + re.sub(r"[^\w-]", "-", name)


# ---- pages ----------------------------------------------------------------------------------
def page(title, body, path, nav=""):
    up = "../" * path.count("/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · {SITE_TITLE}</title>
<link rel="stylesheet" href="{up}style.css">
<link rel="icon" href="data:,">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Site"><a href="{up}index.html">{SITE_TITLE}</a>
<a href="{up}asyncio-to-asio.html">asyncio → Asio</a> <a href="{up}pitfalls.html">Pitfalls</a>
<a href="{up}performance.html">Performance</a></nav></header>
<main id="main">
{body}</main>
{nav}<footer><p>Generated by <code>./tutorial site</code> from the lessons, progression.md and docs/.</p>
</footer>
</body>
</html>
"""


def source_block(path, label, level=3, fid=None):
    code = path.read_text()
    fid = fid or file_id(path.name)
    heading = f'<h{level} id="{fid}"><code>{html.escape(label)}</code></h{level}>'
    return (f'<section aria-labelledby="{fid}">{heading}\n'
            + highlight(code, CppLexer(), HtmlFormatter(wrapcode=True)) + "</section>\n")


def lesson_sources(folder):
    """(teaching files: headers before their .cpp, main.cpp, 'How it is built' files)."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".hpp", ".cpp"))
    key = lambda p: (p.stem, p.suffix != ".hpp")  # foo.hpp, then foo.cpp
    built = sorted((p for p in files if p.read_text().startswith("// How it is built")), key=key)
    main = [p for p in files if p.name == "main.cpp"]
    teaching = sorted((p for p in files if p not in built and p not in main), key=key)
    return teaching, main, built


def lesson_page(site, lesson, entry, prev, nxt):
    name, number = lesson["name"], lesson["number"]
    path = f"lessons/{name}.html"
    folder = site.root / "lessons" / name
    title = html.escape(lesson["title"])
    body = [f'<h1 id="top"><span class="number">{number}</span> {title}</h1>']
    if entry:
        body.append(markdown_to_html(entry, site.linker("", path), shift=0, taken={"top"}))
    else:
        body.append(f"<p>asyncio counterpart: <code>{html.escape(lesson['asyncio'])}</code>. "
                    "This lesson has no entry in progression.md yet.</p>")
    teaching, main, built = lesson_sources(folder)
    body.append('<h2 id="code">The code</h2>\n<p>The header says what the lesson offers; the '
                "teaching code is next to it, then <code>main.cpp</code>, the demonstration. "
                f"Run it with <code>./tutorial run {number}</code>.</p>")
    body += [source_block(p, f"lessons/{name}/{p.name}") for p in teaching + main]
    if built:
        body.append('<details><summary>How it is built: the machinery behind the lesson, '
                    "to skip on a first reading</summary>\n"
                    + "".join(source_block(p, f"lessons/{name}/{p.name}") for p in built)
                    + "</details>")
    expected = (folder / "expected_output.txt").read_bytes().decode("utf-8")
    body.append('<h2 id="output">Expected output</h2>\n<p>What <code>./tutorial run '
                f"{number}</code> prints, exactly as "
                f"<code>lessons/{name}/expected_output.txt</code> holds it; the test suite checks "
                "that the program still prints this.</p>")
    holders = sorted(set(PLACEHOLDER.findall(expected)))
    if holders:
        body.append('<p class="note">Placeholders: ' + ", ".join(f"<code>{html.escape(h)}</code>" for h in holders)
                    + ". The output check (<code>cmake/CheckOutput.cmake</code>) accepts any text in "
                    "the place of each <code>{...}</code>: a port, a measured number, a time that "
                    "varies from run to run; the braces show a typical value or say what it is.</p>")
    # check_site.py reads it back, byte for byte. A browser drops the newline right after <pre>
    # (HTML's rule), so a file that begins with an empty line still shows it.
    quoted = html.escape(expected, quote=False)
    body.append(f'<pre class="output" id="expected-output">\n{quoted}</pre>')
    links = []
    if list((site.root / "tests").glob(f"test_{name}*.cpp")):
        links.append(f'<li><a href="../tests/{name}.html">Its tests</a> '
                     f"(<code>tests/test_{name}.cpp</code>; <code>./tutorial test {number}</code>)</li>")
    if (site.root / "exercises" / name).is_dir():
        links.append(f'<li><a href="../exercises/{name}.html">Its exercise</a> '
                     f"(<code>./tutorial exercise check {number}</code>)</li>")
    if links:
        body.append('<h2 id="practice">Tests and exercise</h2>\n<ul>' + "".join(links) + "</ul>")
    return path, page(f"{number} {lesson['title']}", "\n".join(body), path, prev_next(prev, nxt))


def prev_next(prev, nxt):
    link = lambda l, rel, word: (f'<a rel="{rel}" href="{l["name"]}.html">{word}: {l["number"]} '
                                 f'{html.escape(l["title"])}</a>' if l else "")
    return (f'<nav class="prevnext" aria-label="Lessons">{link(prev, "prev", "Previous")} '
            f'{link(nxt, "next", "Next")}</nav>\n')


def files_page(title, folder_label, files, path, back, base=None, shown_as=None):
    """base: the folder the files' labels are relative to (default: each file's own folder).
    shown_as: {file: the path below base it is shown as} for a file shown under another name."""
    body = [f"<h1>{html.escape(title)}</h1>", f'<p><a href="{back}">Back to the lesson</a></p>']
    shown_as = shown_as or {}

    def relative(p):
        return shown_as.get(p) or p.relative_to(base).as_posix()
    # with a base, two files may share a name (an exercise folder holding two exercises): the
    # id comes from the path relative to base, so every id on the page stays unique
    body += [source_block(p, folder_label + (relative(p) if base else p.name), level=2,
                          fid=file_id(relative(p)) if base else None)
             for p in files]
    return page(title, "\n".join(body), path)


def index_page(site, intro, parts, entries, epilogue):
    body = [f"<h1>{SITE_TITLE}</h1>", markdown_to_html(intro, site.linker("", "index.html"))]
    names = {"asyncio-to-asio": "the asyncio → Asio map", "pitfalls": "pitfalls",
             "performance": "performance"}
    docs = sorted(site.docs, key=lambda d: (d not in names, d))
    body.append("<p>Also: " + ", ".join(f'<a href="{d}.html">{names.get(d, d.replace("-", " "))}</a>'
                                        for d in docs) + ".</p>")
    taken = {"top", "main"}
    for part in parts:
        pid = slug(part["title"], taken)
        body.append(f'<section aria-labelledby="{pid}"><h2 id="{pid}">{html.escape(part["title"])}</h2>')
        body.append(markdown_to_html(part["intro"], site.linker("", "index.html"), taken=taken))
        columns = ("#", "Lesson", "asyncio counterpart", "Prerequisites")
        body.append('<div class="table"><table><thead><tr>'
                    + "".join(f'<th scope="col">{c}</th>' for c in columns) + "</tr></thead><tbody>")
        for lesson in part["lessons"]:
            counterparts = ", ".join(f"<code>{html.escape(a)}</code>" for a in lesson["asyncio"].split(", "))
            # progression.md's "*prerequisites:*", else the lessons it USES
            pre = (prerequisites(entries.get(lesson["name"]))
                   or ", ".join(u[:3] for u in lesson["uses"]) or "none")
            cells = (lesson["number"], f'<a href="lessons/{lesson["name"]}.html">{html.escape(lesson["title"])}</a>',
                     counterparts, inline(pre, lambda target: None))
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        body.append("</tbody></table></div></section>")
    body.append(markdown_to_html(epilogue, site.linker("", "index.html"), taken=taken))
    return page("Lessons", "\n".join(body), "index.html")


def build(out, root=ROOT):
    lessons = read_lessons(root)
    site = Site(root, lessons)
    intro, parts, entries, epilogue = read_progression((root / "progression.md").read_text())
    by_name = {l["name"]: l for l in lessons}
    # parts as progression.md orders them; a lesson it does not list yet joins its PART's part
    part_of_label = {}
    for part in parts:
        part["lessons"] = [by_name[n] for n in part["lessons"] if n in by_name]
        for l in part["lessons"]:
            part_of_label.setdefault(l["part"], part)
    for l in lessons:
        if not any(l in p["lessons"] for p in parts):
            if l["part"] not in part_of_label:
                parts.append(dict(title=f"Part: {l['part']}", intro="", lessons=[]))
                part_of_label[l["part"]] = parts[-1]
            part_of_label[l["part"]]["lessons"].append(l)
    ordered = [l for p in parts for l in p["lessons"]]
    if out.exists():  # a folder of our own only: never delete what is not an earlier site
        if any(out.iterdir()) and not (out / "index.html").exists():
            sys.exit(f"site: {out} is not empty and holds no earlier site; not replacing it")
        shutil.rmtree(out)
    pages = {"index.html": index_page(site, intro, parts, entries, epilogue)}
    for i, lesson in enumerate(ordered):
        prev = ordered[i - 1] if i > 0 else None
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        path, text = lesson_page(site, lesson, entries.get(lesson["name"]), prev, nxt)
        pages[path] = text
        name = lesson["name"]
        heading = f"{lesson['number']} {lesson['title']}"
        tests = sorted((root / "tests").glob(f"test_{name}*.[ch]pp"), key=lambda p: (p.suffix, p.name))
        if tests:
            pages[f"tests/{name}.html"] = files_page(f"{heading}: tests", "tests/", tests,
                                                     f"tests/{name}.html", f"../lessons/{name}.html")
        exercise = root / "exercises" / name
        if exercise.is_dir():  # the starter files only: the solution/ folder is for after trying
            # exercises/NNN_topic/K_name/{starter/exercise,test}.cpp. The learner's exercise.cpp
            # is made from starter/exercise.cpp and not in git (it may hold their edits), so the
            # page shows the starter under the name the learner edits: K_name/exercise.cpp.
            shown_as, files = {}, []
            for p in exercise.rglob("*.[ch]pp"):
                folders = p.relative_to(exercise).parts[:-1]
                if not p.is_file() or "solution" in folders:
                    continue
                if "starter" in folders:
                    shown_as[p] = p.parent.parent.joinpath(p.name).relative_to(exercise).as_posix()
                elif (p.parent / "starter" / p.name).is_file():
                    continue  # the learner's copy of a starter
                files.append(p)
            files.sort(key=lambda p: shown_as.get(p) or p.relative_to(exercise).as_posix())
            pages[f"exercises/{name}.html"] = files_page(f"{heading}: exercise", f"exercises/{name}/",
                                                         files, f"exercises/{name}.html",
                                                         f"../lessons/{name}.html", base=exercise,
                                                         shown_as=shown_as)
    for doc in site.docs:
        text = (root / "docs" / f"{doc}.md").read_text()
        title = re.match(r"# (.*)", text)
        body = markdown_to_html(text, site.linker("docs", f"{doc}.html"))
        pages[f"{doc}.html"] = page(title[1] if title else doc, body, f"{doc}.html")
    for path, text in pages.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)
    css = (Path(__file__).parent / "style.css").read_text()
    css += "\n/* Pygments: 'default' in light mode, 'github-dark' in dark mode */\n"
    css += HtmlFormatter(style="default").get_style_defs(".highlight") + "\n"
    css += "@media screen and (prefers-color-scheme: dark) {\n" + HtmlFormatter(
        style="github-dark").get_style_defs(".highlight") + "\n}\n"
    (out / "style.css").write_text(css)
    return pages


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build/site", help="default: build/site")
    args = parser.parse_args()
    pages = build(args.out.resolve())
    print(f"site: {len(pages)} pages in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
