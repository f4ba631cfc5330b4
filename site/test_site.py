#!/usr/bin/python3
"""Unit tests of the site's generator and of its checks: site/test_site.py (CTest label `site`).

The Markdown converter on the constructs progression.md and docs/*.md use; a small repository
made up in a temporary folder (two lessons) to show that a lesson line gives a page with no
other step; and proof that check_site.py fails: on a tampered copy of a page's quoted output
(one byte, and a missing final newline), a lesson without a page, a broken link or anchor, an
unclosed tag, a skipped heading level. And that browser_check.py's skip becomes a failure
under TUTORIAL_NO_SKIP=1.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(HERE))
import check_site  # noqa: E402
import generate  # noqa: E402
from generate import markdown_to_html as md  # noqa: E402


class Markdown(unittest.TestCase):
    def test_headings_get_levels_and_ids(self):
        self.assertEqual(md("# A title\n\n## Part I: Basics (001–005)\n"),
                         '<h1 id="a-title">A title</h1>\n<h2 id="part-i-basics-001005">Part I: Basics (001–005)</h2>\n')

    def test_paragraph_with_inline_code_bold_italic_and_escaping(self):
        self.assertEqual(md("**What.** `a && b` *x* < y\nnext line\n"),
                         "<p><strong>What.</strong> <code>a &amp;&amp; b</code> <em>x</em> &lt; y\nnext line</p>\n")

    def test_code_spans_keep_stars_brackets_and_links_literal(self):
        self.assertEqual(md("`**not bold** [not](link) *p`\n"),
                         "<p><code>**not bold** [not](link) *p</code></p>\n")

    def test_fenced_code_is_escaped_and_ends_a_paragraph(self):
        html = md("Look:\n```text\n[ 0.0s] <main> & co\n```\nAfter.\n")
        self.assertIn("<p>Look:</p>", html)
        self.assertIn("<pre><code>[ 0.0s] &lt;main&gt; &amp; co\n</code></pre>", html)
        self.assertIn("<p>After.</p>", html)

    def test_tables_split_on_unescaped_bars_only(self):
        html = md("| a | b |\n|---|---|\n| `x \\|\\| y` | **z** |\n")
        self.assertIn('<th scope="col">a</th><th scope="col">b</th>', html)
        self.assertIn("<td><code>x || y</code></td><td><strong>z</strong></td>", html)

    def test_a_line_starting_with_a_bar_continues_a_paragraph_unless_it_starts_a_table(self):
        self.assertEqual(md("a racing (`q.get()\n|| timer`) here\n"),
                         "<p>a racing (<code>q.get() || timer</code>) here</p>\n")

    def test_lists_with_continuation_lines_and_numbers(self):
        html = md("- one\n  still one\n- two\n\n1. first\n2. second\n")
        self.assertEqual(html, "<ul>\n<li>one\nstill one</li>\n<li>two</li>\n</ul>\n"
                               "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n")

    def test_links_go_through_the_link_rewriter(self):
        html = md("[lesson 3](../lessons/003_gather/) and [gone](x.md)\n",
                  link=lambda t: "lessons/003_gather.html" if "003" in t else None)
        self.assertEqual(html, '<p><a href="lessons/003_gather.html">lesson 3</a> and gone</p>\n')

    def test_repository_links_become_page_links(self):
        site = generate.Site(generate.ROOT, generate.read_lessons())
        link = site.linker("docs", "pitfalls.html")
        self.assertEqual(link("../lessons/002_tasks/"), "lessons/002_tasks.html")
        self.assertEqual(link("../progression.md"), "index.html")
        self.assertEqual(link("performance.md#result"), "performance.html#result")
        self.assertIsNone(link("../bench/README.md"))  # no page: shown as text
        self.assertEqual(link("https://think-async.com/"), "https://think-async.com/")
        self.assertEqual(site.linker("", "lessons/x.html")("docs/pitfalls.md"), "../pitfalls.html")
        self.assertEqual(link("../tests/test_029_chat_server_support.hpp"),
                         "tests/029_chat_server.html#file-test_029_chat_server_support-hpp")


def make_repo(folder, lessons):
    """A repository with only what the generator reads, and the given (name, output) lessons."""
    (folder / "lessons").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "docs").mkdir()
    lines = []
    for name, output in lessons:
        lines.append(f'add_lesson({name} PART basics TITLE "Title {name[:3]}" ASYNCIO "asyncio.x, asyncio.y")')
        (folder / "lessons" / name).mkdir()
        (folder / "lessons" / name / "expected_output.txt").write_text(output)
        (folder / "lessons" / name / "thing.hpp").write_text("// the header\nint f();\n")
        (folder / "lessons" / name / "main.cpp").write_text("int main() { return 0; }  // the demo\n")
        (folder / "tests" / f"test_{name}.cpp").write_text("// tests\n")
    (folder / "lessons/CMakeLists.txt").write_text("# lessons\n" + "\n".join(lines) + "\n")
    (folder / "progression.md").write_text(textwrap.dedent("""\
        # Learning path

        Intro, see [the map](docs/asyncio-to-asio.md).

        ## Part I: Basics (001–)

        ### 001_one: Title 001
        *asyncio counterpart:* `asyncio.x` · *prerequisites:* none

        **What you learn.** Things.
        """))
    for doc in ("asyncio-to-asio", "pitfalls", "performance"):
        (folder / "docs" / f"{doc}.md").write_text(f"# {doc}\n\nBack to [lesson 1](../lessons/001_one/).\n")


class Generator(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="site-test-"))
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_a_new_lesson_line_gets_a_page_with_no_other_step(self):
        repo = self.tmp / "repo"
        # 002_two has no entry in progression.md: it still gets its page, in its PART's part
        make_repo(repo, [("001_one", "[ 0.0s] one\n"), ("002_two", "port {port}\nno final newline")])
        pages = generate.build(self.tmp / "site", repo)
        self.assertIn("lessons/002_two.html", pages)
        self.assertIn('href="002_two.html"', pages["lessons/001_one.html"])  # next
        self.assertIn('href="lessons/002_two.html"', pages["index.html"])
        self.assertIn("Placeholders: <code>{port}</code>. The output check", pages["lessons/002_two.html"])
        self.assertNotIn("Placeholders", pages["lessons/001_one.html"])
        self.assertEqual(check_site.check(self.tmp / "site", repo), [])

    def test_an_exercise_gets_a_page_with_its_starter_and_not_its_solution(self):
        repo = self.tmp / "repo"
        make_repo(repo, [("001_one", "one\n")])
        (repo / "exercises/001_one/solution").mkdir(parents=True)
        (repo / "exercises/001_one/overlap.cpp").write_text("// TODO: make the sleeps overlap\n")
        (repo / "exercises/001_one/solution/overlap.cpp").write_text("// the answer\n")
        pages = generate.build(self.tmp / "site", repo)
        self.assertIn('href="../exercises/001_one.html"', pages["lessons/001_one.html"])
        self.assertIn("TODO: make the sleeps overlap", pages["exercises/001_one.html"])
        self.assertNotIn("the answer", pages["exercises/001_one.html"])
        self.assertEqual(check_site.check(self.tmp / "site", repo), [])

    def test_an_exercise_in_a_folder_of_its_own_shows_its_starter_not_the_learners_copy_or_solution(self):
        repo = self.tmp / "repo"
        make_repo(repo, [("001_one", "one\n")])
        folder = repo / "exercises/001_one/1_overlap"
        (folder / "solution").mkdir(parents=True)
        (folder / "starter").mkdir()
        (folder / "exercise.cpp").write_text("// a learner's edits, not in git\n")
        (folder / "starter/exercise.cpp").write_text("// TODO: make the sleeps overlap\n")
        (folder / "solution/exercise.cpp").write_text("// the answer\n")
        (folder / "test.cpp").write_text("// the tests\n")
        pages = generate.build(self.tmp / "site", repo)
        page = pages["exercises/001_one.html"]
        self.assertIn("exercises/001_one/1_overlap/exercise.cpp", page)  # the name the learner edits
        self.assertNotIn("1_overlap/starter/", page)
        self.assertIn("TODO: make the sleeps overlap", page)
        self.assertIn("the tests", page)
        self.assertNotIn("the answer", page)
        self.assertNotIn("a learner's edits", page)
        self.assertEqual(check_site.check(self.tmp / "site", repo), [])
        (folder / "exercise.cpp").unlink()  # a fresh clone, before anything made it
        pages = generate.build(self.tmp / "site", repo)
        self.assertIn("TODO: make the sleeps overlap", pages["exercises/001_one.html"])

    def test_a_lesson_without_a_page_fails_the_check(self):
        repo = self.tmp / "repo"
        make_repo(repo, [("001_one", "one\n")])
        generate.build(self.tmp / "site", repo)
        with open(repo / "lessons/CMakeLists.txt", "a") as f:  # a lesson added after the build
            f.write('add_lesson(002_two PART basics TITLE "Two" ASYNCIO "x")\n')
        (repo / "lessons/002_two").mkdir()
        (repo / "lessons/002_two/expected_output.txt").write_text("two\n")
        self.assertEqual(check_site.check(self.tmp / "site", repo),
                         ["lesson 002_two (lessons/CMakeLists.txt) has no page lessons/002_two.html"])


class CheckFails(unittest.TestCase):
    """check_site.check() on the site of a made-up repository, then on tampered copies of it."""
    root = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="site-check-"))
        cls.site = cls.tmp / "site"
        cls.root = cls.tmp / "repo"
        make_repo(cls.root, [("001_one", "[ 0.0s] say_after hello\n"), ("002_two", "two <&> {n}\n")])
        with open(cls.root / "docs/pitfalls.md", "a") as f:
            f.write("\n| a | b |\n|---|---|\n| 1 | 2 |\n")
        generate.build(cls.site, cls.root)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def tampered(self, page, old, new):
        copy = self.tmp / f"copy-{self._testMethodName}"
        shutil.copytree(self.site, copy)
        text = (copy / page).read_text()
        self.assertIn(old, text)
        (copy / page).write_text(text.replace(old, new, 1))
        return check_site.check(copy, self.root)

    def test_the_untampered_site_passes(self):
        self.assertEqual(check_site.check(self.site, self.root), [])

    def test_one_byte_of_quoted_output_changed_fails(self):
        problems = self.tampered("lessons/001_one.html", "say_after hello", "say_after hellO")
        self.assertEqual(len(problems), 1)
        self.assertIn("lessons/001_one.html: the quoted output differs from lessons/001_one/expected_output.txt "
                      "from byte 22 (line 1): page b'O\\n', file b'o\\n'", problems[0])

    def test_a_missing_final_newline_fails(self):
        problems = self.tampered("lessons/002_two.html", "\n</pre>", "</pre>")
        self.assertEqual(len(problems), 1)
        self.assertIn("the quoted output differs", problems[0])

    def test_an_extra_leading_newline_fails(self):
        problems = self.tampered("lessons/002_two.html", 'id="expected-output">\n', 'id="expected-output">\n\n')
        self.assertEqual(len(problems), 1)
        self.assertIn("the quoted output differs", problems[0])

    def test_a_broken_link_fails(self):
        problems = self.tampered("index.html", 'href="lessons/002_two.html"', 'href="lessons/002_tw.html"')
        self.assertEqual(problems, ["index.html: link 'lessons/002_tw.html' points to no file "
                                    "(lessons/002_tw.html)"])

    def test_a_broken_anchor_fails(self):
        problems = self.tampered("lessons/001_one.html", 'href="002_two.html"', 'href="002_two.html#nope"')
        self.assertEqual(problems, ["lessons/001_one.html: link '002_two.html#nope': "
                                    "lessons/002_two.html has no id 'nope'"])

    def test_a_missing_stylesheet_fails(self):
        copy = self.tmp / "copy-css"
        shutil.copytree(self.site, copy)
        (copy / "style.css").unlink()
        problems = check_site.check(copy, self.root)
        self.assertTrue(problems and all("'style.css'" in p or "'../style.css'" in p for p in problems))

    def test_an_unclosed_tag_fails(self):
        problems = self.tampered("pitfalls.html", "</table>", "")
        self.assertIn("pitfalls.html: <table> never closed", problems)

    def test_a_skipped_heading_level_fails(self):
        problems = self.tampered("index.html", "<h2 ", "<h4 ")
        self.assertIn("index.html: heading h4 after h1 skips a level", problems)


class RealSite(unittest.TestCase):
    def test_a_tampered_copy_of_a_real_lesson_page_fails(self):
        tmp = Path(tempfile.mkdtemp(prefix="site-real-"))
        self.addCleanup(shutil.rmtree, tmp)
        generate.build(tmp / "site")
        page = tmp / "site/lessons/001_hello_coroutines.html"
        before, output = page.read_text().split('id="expected-output">')
        self.assertIn("say_after hello", output)
        page.write_text(before + 'id="expected-output">' + output.replace("say_after hello", "say_after hellO", 1))
        problems = [p for p in check_site.check(tmp / "site", generate.ROOT)]
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("lessons/001_hello_coroutines.html: the quoted output differs from "
                      "lessons/001_hello_coroutines/expected_output.txt", problems[0])


class BrowserCheckSkip(unittest.TestCase):
    def run_without_chromium(self, no_skip):
        env = dict(os.environ, TUTORIAL_CHROMIUM="/nonexistent/chromium")
        env.pop("TUTORIAL_NO_SKIP", None)
        if no_skip:
            env["TUTORIAL_NO_SKIP"] = "1"
        return subprocess.run([sys.executable, str(HERE / "browser_check.py"), "/nonexistent-site"],
                              env=env, capture_output=True, text=True, timeout=60)

    def test_missing_chromium_skips_with_a_reason(self):
        result = self.run_without_chromium(no_skip=False)
        self.assertEqual(result.returncode, 77, result.stdout + result.stderr)
        self.assertIn("TUTORIAL_SKIPPED: missing Chromium", result.stdout)

    def test_missing_chromium_fails_under_tutorial_no_skip(self):
        result = self.run_without_chromium(no_skip=True)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("TUTORIAL_NO_SKIP is set", result.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
