"""Importing answers from CSV: the contract, every bad input, all or nothing, re-imports."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from surveys import imports
from surveys.imports import ImportRefused, responses_import
from surveys.models import Item, Rater, Response, Survey

pytestmark = pytest.mark.django_db

PAIRWISE = """rater,item,model_1,model_2,winner,left,response_ms
r1,i1,VAE (annealing),VAE,VAE (annealing),VAE,1200
r1,i2,VAE (annealing),VAE,discard,,
r2,i1,VAE,VAE (annealing),VAE,VAE (annealing),900
"""
MEANINGFULNESS = """rater,item,model,sentence,meaningful
r1,s1,VAE,she just looked up,yes
r1,s2,AutoGen (m=1),"her eyes widen, frowning at the thing she could not see at all",No
r2,s1,VAE,she just looked up,0
r2,s3,AutoGen (m=1),they don't show themselves,TRUE
"""


def write(tmp_path, text: str, name: str = "answers.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(path, kind: str = "pairwise", survey: str = "table 2") -> dict:
    out = io.StringIO()
    call_command("import_responses", str(path), kind=kind, survey=survey, as_json=True, stdout=out)
    return json.loads(out.getvalue())


def refused(path, kind: str = "pairwise", survey: str = "table 2") -> str:
    with pytest.raises(CommandError) as error:
        run(path, kind, survey)
    return str(error.value)


def assert_nothing_written() -> None:
    assert not Survey.objects.exists()
    assert not Response.objects.exists()
    assert not Rater.objects.exists()
    assert not Item.objects.exists()


def test_a_pairwise_file_creates_the_survey_raters_items_and_answers(tmp_path):
    summary = run(write(tmp_path, PAIRWISE))

    assert summary == {
        **summary,
        "survey": "table 2",
        "kind": "pairwise_reconstruction",
        "survey_created": True,
        "rows": 3,
        "responses_created": 3,
        "responses_skipped": 0,
        "raters_created": 2,
        "items_created": 2,
    }
    survey = Survey.objects.get()
    assert survey.kind == Survey.Kind.PAIRWISE
    assert survey.question == "Choose the best reconstruction."
    item = Item.objects.get(key="i1")
    assert (item.model_1, item.model_2) == ("VAE (annealing)", "VAE")


def test_winner_and_left_are_stored_as_sides_of_the_item_whatever_the_column_order(tmp_path):
    run(write(tmp_path, PAIRWISE))

    answers = {
        (r.rater.external_id, r.item.key): (r.answer, r.left, r.response_ms)
        for r in Response.objects.select_related("rater", "item")
    }
    assert answers == {
        ("r1", "i1"): ("model_1", "model_2", 1200),
        ("r1", "i2"): ("discard", "", None),
        ("r2", "i1"): ("model_2", "model_1", 900),
    }
    assert Response.objects.get(rater__external_id="r2").winner == "VAE"


def test_a_meaningfulness_file_counts_words_when_no_length_is_given(tmp_path):
    summary = run(write(tmp_path, MEANINGFULNESS), kind="meaningfulness", survey="table 4")

    assert summary["responses_created"] == 4
    assert summary["items_created"] == 3
    lengths = dict(Item.objects.values_list("key", "length"))
    assert lengths == {"s1": 4, "s2": 13, "s3": 4}
    answers = list(Response.objects.order_by("pk").values_list("answer", flat=True))
    assert answers == ["yes", "no", "no", "yes"]
    assert Item.objects.get(key="s2").sentence.startswith("her eyes widen")


def test_a_given_length_wins_over_the_word_count(tmp_path):
    text = "rater,item,model,sentence,meaningful,length\nr1,s1,VAE,a b c,yes,12\n"
    run(write(tmp_path, text), kind="meaningfulness")
    assert Item.objects.get().length == 12


def test_column_names_are_case_insensitive_and_extra_columns_are_ignored(tmp_path):
    text = "Rater,ITEM,Model_1,model_2,Winner,comment\nr1,i1,A,B,B,fine\n"
    assert run(write(tmp_path, text))["responses_created"] == 1


def test_a_file_with_a_byte_order_mark_and_crlf_line_ends_imports(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfrater,item,model_1,model_2,winner\r\nr1,i1,A,B,A\r\n")
    assert run(path)["responses_created"] == 1


def test_the_service_reads_an_uploaded_binary_file_object():
    upload = io.BytesIO(b"rater,item,model_1,model_2,winner\nr1,i1,A,B,A\n")
    summary = responses_import(
        survey_name="uploaded", kind="pairwise", file=upload, filename="up.csv"
    )
    assert summary.responses_created == 1


def test_re_importing_the_same_file_skips_every_answer(tmp_path):
    path = write(tmp_path, PAIRWISE)
    run(path)

    again = run(path)

    assert again["survey_created"] is False
    assert (again["responses_created"], again["responses_skipped"]) == (0, 3)
    assert Response.objects.count() == 3


def test_a_file_that_adds_answers_to_a_survey_imports_only_the_new_ones(tmp_path):
    run(write(tmp_path, PAIRWISE))
    more = PAIRWISE + "r3,i2,VAE,VAE (annealing),VAE (annealing),,\n"

    summary = run(write(tmp_path, more, "more.csv"))

    assert (summary["responses_created"], summary["responses_skipped"]) == (1, 3)
    assert summary["raters_created"] == 1
    assert Response.objects.get(rater__external_id="r3").answer == "model_1"


def test_an_answer_that_contradicts_a_stored_one_is_refused_and_nothing_is_added(tmp_path):
    run(write(tmp_path, PAIRWISE))
    changed = PAIRWISE.replace("r1,i2,VAE (annealing),VAE,discard", "r1,i2,VAE (annealing),VAE,VAE")
    changed += "r9,i1,VAE,VAE (annealing),VAE,,\n"

    message = refused(write(tmp_path, changed, "changed.csv"))

    assert "line 3: rater 'r1' already answered item 'i2' with 'discard'" in message
    assert "a response is written once" in message
    assert Response.objects.count() == 3
    assert not Rater.objects.filter(external_id="r9").exists()


def test_bad_rows_are_all_reported_by_line_and_nothing_is_written(tmp_path):
    text = (
        "rater,item,model_1,model_2,winner,left,response_ms\n"
        "r1,i1,A,B,A,,\n"  # line 2: fine
        ",i2,A,B,A,,\n"  # line 3
        "r1,i3,A,A,A,,\n"  # line 4
        "r1,i4,A,B,C,,\n"  # line 5
        "r1,i5,A,B,A,D,\n"  # line 6
        "r1,i6,A,B,A,,fast\n"  # line 7
        "r2,i1,A,C,A,,\n"  # line 8
        "r1,i1,B,A,B,,\n"  # line 9
        "r1,i7,A,B\n"  # line 10
    )

    message = refused(write(tmp_path, text))

    lines = message.splitlines()
    assert (
        lines[0] == "8 bad row(s) in " + str(tmp_path / "answers.csv") + "; nothing was imported:"
    )
    assert lines[1:] == [
        "line 3: rater is empty",
        "line 4: model_1 and model_2 are both 'A'",
        "line 5: winner 'C' is neither 'A', 'B' nor 'discard'",
        "line 6: left 'D' is neither 'A' nor 'B'",
        "line 7: response_ms 'fast' is not a whole number from 0 to 2147483647",
        "line 8: item 'i1' is A vs C, but line 2 it is A vs B",
        "line 9: rater 'r1' answers item 'i1' again (first on line 2)",
        "line 10: expected 7 fields, found 4",
    ]
    assert_nothing_written()


def test_meaningfulness_rows_are_checked_too(tmp_path):
    text = (
        "rater,item,model,sentence,meaningful,length\n"
        "r1,s1,VAE,one two,maybe,\n"  # line 2
        "r1,s2,VAE,,yes,\n"  # line 3
        "r1,s3,VAE,one two,yes,-3\n"  # line 4
        "r1,s4,VAE,one two,yes,\n"  # line 5: fine
        "r2,s4,VAE,three four,yes,\n"  # line 6
        "r3,s4,AutoGen,one two,yes,\n"  # line 7
    )

    message = refused(write(tmp_path, text), kind="meaningfulness")

    assert message.splitlines()[1:] == [
        "line 2: meaningful 'maybe' is not one of yes/no, 1/0, true/false",
        "line 3: sentence is empty and no length is given",
        "line 4: length '-3' is not a whole number from 0 to 32767",
        "line 6: item 's4' has a different sentence than line 5",
        "line 7: item 's4' is AutoGen, but line 5 it is VAE",
    ]
    assert_nothing_written()


def test_line_numbers_count_physical_lines_when_a_quoted_field_spans_two(tmp_path):
    text = 'rater,item,model_1,model_2,winner\nr1,i1,A,B,"A\nB"\nr1,i2,A,B,X\n'
    assert refused(write(tmp_path, text)).splitlines()[1:] == [
        "line 2: winner 'A\\nB' is neither 'A', 'B' nor 'discard'",
        "line 4: winner 'X' is neither 'A', 'B' nor 'discard'",
    ]


def test_a_flood_of_bad_rows_is_listed_up_to_a_cap_and_then_counted(tmp_path):
    bad = "".join(f"r{i},i{i},A,B,nobody\n" for i in range(imports.MAX_REPORTED_ERRORS + 7))
    message = refused(write(tmp_path, "rater,item,model_1,model_2,winner\n" + bad))
    lines = message.splitlines()
    assert lines[0].startswith(f"{imports.MAX_REPORTED_ERRORS + 7} bad row(s)")
    assert len(lines) == 1 + imports.MAX_REPORTED_ERRORS + 1
    assert lines[-1] == "… and 7 more bad row(s)."


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"",
            imports.EMPTY_FILE.format(name="{path}", columns="rater,item,model_1,model_2,winner"),
        ),
        (b"rater,item,model_1,model_2,winner\n", imports.NO_ROWS.format(name="{path}")),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", imports.NOT_TEXT.format(name="{path}")),
        (
            b"rater,item,model_1,model_2,winner\nr1,i1,A,B,caf\xe9\n",
            imports.NOT_UTF8.format(name="{path}", byte=0xE9, line=2),
        ),
        (
            b"rater,item,winner\nr1,i1,A\n",
            imports.MISSING_COLUMNS.format(
                name="{path}",
                missing="model_1,model_2",
                kind="pairwise",
                columns="rater,item,model_1,model_2,winner",
            ),
        ),
    ],
    ids=["empty", "header only", "binary", "latin-1", "missing columns"],
)
def test_a_bad_file_is_refused_in_one_line_and_nothing_is_written(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)

    message = refused(path)

    assert message == expected.replace("{path}", str(path))
    assert "\n" not in message
    assert_nothing_written()


def test_a_missing_file_is_refused(tmp_path):
    assert refused(tmp_path / "nowhere.csv") == f"No such file: {tmp_path / 'nowhere.csv'}"


def test_a_survey_of_the_other_kind_is_refused(tmp_path):
    run(write(tmp_path, PAIRWISE), survey="mixed")

    message = refused(
        write(tmp_path, MEANINGFULNESS, "m.csv"), kind="meaningfulness", survey="mixed"
    )

    assert message == imports.OTHER_KIND.format(
        survey="mixed", existing="pairwise", kind="meaningfulness"
    )
    assert Response.objects.count() == 3


def test_the_service_refuses_an_unknown_kind_and_an_empty_survey_name(tmp_path):
    path = write(tmp_path, PAIRWISE)
    with pytest.raises(ImportRefused, match="Unknown survey kind 'ranking'"):
        responses_import(survey_name="x", kind="ranking", file=path)
    with pytest.raises(ImportRefused, match="needs a name"):
        responses_import(survey_name="  ", kind="pairwise", file=path)


def test_without_json_the_command_prints_a_sentence(tmp_path):
    out = io.StringIO()
    call_command(
        "import_responses", str(write(tmp_path, PAIRWISE)), kind="pairwise", survey="s", stdout=out
    )
    assert "3 answers imported, 0 already there, 2 new raters, 2 new items" in out.getvalue()


def test_a_large_import_refreshes_the_planner_statistics_and_still_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "ANALYZE_AFTER", 1)  # ANALYZE runs on PostgreSQL, else nothing
    assert run(write(tmp_path, PAIRWISE))["responses_created"] == 3


# --- Re-imports read only the file's raters; stored items get their missing sentence --------


def test_a_re_import_reads_only_the_stored_answers_of_the_files_raters(tmp_path, monkeypatch):
    header = "rater,item,model_1,model_2,winner\n"
    stored = "".join(f"r{r},i{i},A,B,{'AB'[(r + i) % 2]}\n" for r in range(12) for i in range(3))
    run(write(tmp_path, header + stored))
    monkeypatch.setattr(imports, "RATER_LOOKUP_CHUNK", 2)  # several lookups, each short
    read: list[int] = []
    real = imports._stored_answers

    def spy(rater_pks):
        keys, codes = real(rater_pks)
        read.append(len(keys))
        return keys, codes

    monkeypatch.setattr(imports, "_stored_answers", spy)
    # r3 and r7 repeat stored answers, r5 contradicts one, r99 is new.
    again = header + "r3,i0,A,B,B\nr7,i2,A,B,B\nr5,i1,A,B,B\nr99,i0,A,B,A\n"

    message = refused(write(tmp_path, again, "again.csv"))

    assert read == [9]  # three answers each of r3, r5 and r7, not all 36
    assert message.count("line ") == 1
    assert "line 4: rater 'r5' already answered item 'i1' with 'model_1'" in message
    summary = run(write(tmp_path, header + "r3,i0,A,B,B\nr7,i2,A,B,B\nr99,i0,A,B,A\n", "ok.csv"))
    assert (summary["responses_created"], summary["responses_skipped"]) == (1, 2)


def test_the_lookup_of_stored_answers_filters_by_rater_in_sql(tmp_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    run(write(tmp_path, PAIRWISE))
    with CaptureQueriesContext(connection) as queries:
        run(write(tmp_path, PAIRWISE))
    reads = [q["sql"] for q in queries if '"answer"' in q["sql"] and "SELECT" in q["sql"]]
    assert reads and all('"rater_id" IN (' in sql for sql in reads)


SENTENCELESS = "rater,item,model,sentence,meaningful,length\nr1,s1,VAE,,yes,4\n"


def test_a_later_file_saves_the_sentence_of_an_item_stored_without_one(tmp_path):
    run(write(tmp_path, SENTENCELESS), kind="meaningfulness")
    assert Item.objects.get(key="s1").text_1 == ""

    summary = run(write(tmp_path, MEANINGFULNESS, "with.csv"), kind="meaningfulness")

    assert summary["items_updated"] == 1
    item = Item.objects.get(key="s1")
    assert (item.text_1, item.length) == ("she just looked up", 4)
    assert summary["responses_skipped"] == 1  # r1's answer to s1 was already there
    again = run(write(tmp_path, MEANINGFULNESS, "with.csv"), kind="meaningfulness")
    assert again["items_updated"] == 0


def test_the_sentence_is_saved_in_the_imports_transaction(tmp_path, monkeypatch):
    from django.db import IntegrityError

    run(write(tmp_path, SENTENCELESS), kind="meaningfulness")

    def collide(*args, **kwargs):
        raise IntegrityError("another import wrote the same answer")

    monkeypatch.setattr(Response.objects, "bulk_create", collide)
    message = refused(write(tmp_path, MEANINGFULNESS, "with.csv"), kind="meaningfulness")

    assert "Another import wrote answers" in message
    assert Item.objects.get(key="s1").text_1 == ""  # rolled back with the answers


def test_a_sentence_of_another_length_than_the_stored_item_is_refused(tmp_path):
    run(write(tmp_path, SENTENCELESS), kind="meaningfulness")
    longer = "rater,item,model,sentence,meaningful\nr2,s1,VAE,she just looked up again,yes\n"

    message = refused(write(tmp_path, longer, "longer.csv"), kind="meaningfulness")

    assert "line 2: item 's1' is 4 words long in the survey, but this sentence has 5" in message
    assert Item.objects.get(key="s1").text_1 == ""
    assert not Response.objects.filter(rater__external_id="r2").exists()
