"""The pure arithmetic of the quality levers' report (the eval itself needs a
corpus and a model, and runs as a benchmark)."""
from benchmarks.quality.eval_python import Query, rank_of_any, rank_of_hit, same_questions
from benchmarks.quality.levers import fusion_breakdown


def test_the_breakdown_counts_where_the_fusion_wins_and_loses_against_its_halves():
    fused = [0, 1, None, 0, 2]
    dense = [0, 0, None, 3, None]
    lexical = [1, None, None, 0, 0]
    found = fusion_breakdown(fused, dense, lexical)
    assert found["fused"] == round((1 + 1 / 2 + 0 + 1 + 1 / 3) / 5, 4)
    assert found["dense"] == round((1 + 1 + 0 + 1 / 4 + 0) / 5, 4)
    assert found["lexical"] == round((1 / 2 + 0 + 0 + 1 + 1) / 5, 4)
    # Per query the better of fused and dense: 0, 0, none, 0, 2.
    assert found["best of fused and dense"] == round((1 + 1 + 0 + 1 + 1 / 3) / 5, 4)
    assert found["dense first, fused not"] == 1
    assert found["lexical first, fused not"] == 1
    assert found["fused first, neither half"] == 0
    assert found["missed by all three"] == 1


def test_a_strict_hit_is_the_function_itself_not_the_function_that_encloses_it():
    nested = Query(project="p", text="Split tokens.", path="m.py", line=40, start=40, name="outer.inner")
    enclosing = [("p/m.py", 30, 60, "outer")]
    itself = [("p/m.py", 40, 45, "inner")]
    assert rank_of_hit(enclosing, nested) == 0
    assert rank_of_hit(enclosing, nested, strict=True) is None
    assert rank_of_hit(enclosing + itself, nested, strict=True) == 1


def test_a_sentence_documenting_several_definitions_is_one_question_any_of_them_answers():
    emit = Query(project="glib", text="Emits a signal.", path="gsignal.c", line=10, start=10, name="g_signal_emitv")
    by_name = Query(project="glib", text="Emits a signal.", path="gsignal.c", line=90, start=90,
                    name="g_signal_emit_by_name")
    elsewhere = Query(project="pango", text="Emits a signal.", path="p.c", line=5, start=5, name="p_emit")
    other = Query(project="glib", text="Connects a handler.", path="gsignal.c", line=50, start=50, name="connect")
    assert same_questions([emit, other, by_name, elsewhere]) == [[emit, by_name], [other], [elsewhere]]
    results = [("glib/gsignal.c", 90, 99, "g_signal_emit_by_name"), ("glib/gsignal.c", 10, 20, "g_signal_emitv")]
    # Each alone: one answered first, the other second; as one question, first.
    assert (rank_of_hit(results, emit, strict=True), rank_of_hit(results, by_name, strict=True)) == (1, 0)
    assert rank_of_any(results, [emit, by_name], strict=True) == 0
    assert rank_of_any(results, [elsewhere]) is None


def test_a_doc_sentence_is_reworded_as_a_user_would_ask_it():
    from benchmarks.quality.phrasing import how_do_i, the_function_that, where_do_we

    assert where_do_we("Returns the transpose of the matrix U.") == "where do we return the transpose of the matrix U?"
    assert how_do_i("Applies a style to the text.") == "how do I apply a style to the text?"
    assert how_do_i("Fetches rows") == "how do I fetch rows?"
    assert the_function_that("Serialize data as JSON.") == "the function that serializes data as JSON"
    assert the_function_that("Copy the file.") == "the function that copies the file"


def test_the_js_eval_names_an_exported_function_as_it_calls_itself():
    from benchmarks.quality.eval_js import _parsers, strip_file

    source = "\n".join([
        "'use strict';",
        "/**",
        " * Casts a value to a string.",
        " */",
        "module.exports = function castString(value) {",
        "  return String(value);",
        "};",
        "/**",
        " * Parses the flags given.",
        " */",
        "exports.parseFlags = function(flags) {",
        "  return flags.split(',');",
        "};",
    ])
    _stripped, documented, _spans = strip_file(source, _parsers()["javascript"])
    assert [(name, sentence) for name, _line, _start, sentence in documented] == [
        ("castString", "Casts a value to a string."), ("parseFlags", "Parses the flags given.")]
    anonymous = "/**\n * Determines if `arg` is an object.\n */\nmodule.exports = function(arg) {\n  return !!arg;\n};\n"
    _stripped, documented, _spans = strip_file(anonymous, _parsers()["javascript"], module="isObject")
    assert [name for name, *_ in documented] == ["isObject"]


def test_a_language_eval_asks_named_trees_instead_of_its_own_projects_and_refuses_a_missing_one(tmp_path):
    import pytest

    from benchmarks.quality.eval_lang import named_projects

    (tmp_path / "core").mkdir()
    assert named_projects([f"jackson-core={tmp_path / 'core'}"]) == [("jackson-core", tmp_path / "core")]
    for wrong in (str(tmp_path / "core"), f"gone={tmp_path / 'gone'}", f"={tmp_path / 'core'}"):
        with pytest.raises(SystemExit, match="NAME=PATH"):
            named_projects([wrong])


def test_the_elixir_eval_asks_each_doc_attribute_and_starts_the_answer_at_its_spec(tmp_path):
    """Elixir documents with `@doc`, not comments: its text is the question, its
    lines are blanked, and the answer starts at the `@spec` that Fathom's chunk
    holds. `@doc false` asks nothing."""
    from benchmarks.quality.eval_lang import prepare_language

    project = tmp_path / "lib"
    project.mkdir()
    (project / "cart.ex").write_text(
        'defmodule Shop.Cart do\n  @doc """\n  Adds an item to the cart, keeping the newest first.\n  """\n'
        '  @doc since: "1.2.0"\n  @spec add(list, term) :: list\n  def add(cart, item), do: [item | cart]\n\n'
        '  @doc false\n  def internal(cart), do: cart\nend\n')
    queries, units, _roots = prepare_language("elixir", [("shop", project)], tmp_path / "work", 10)
    assert [(q.name, q.text, q.line, q.start) for q in queries] == [
        ("add", "Adds an item to the cart, keeping the newest first.", 6, 4)]
    assert {u.name for u in units} == {"add", "internal"}
    searched = (tmp_path / "work" / "shop" / "cart.ex").read_text()
    assert "Adds an item" not in searched and "@spec add" in searched and "@doc false" in searched


def test_the_language_eval_reads_docs_of_languages_the_model_never_trained_on(tmp_path):
    """C++'s Doxygen in each form, Ruby's YARD/RDoc `#` lines (past a `call-seq:`),
    PHPDoc, Lua's LDoc (past a rule of dashes), C#'s XML `<summary>`, NatSpec's
    `@notice` (else `@dev`) and Haddock (its markup as words) become questions,
    their lines blanked in the copy searched."""
    from benchmarks.quality.eval_lang import prepare_language

    project = tmp_path / "src"
    (project / "lib").mkdir(parents=True)
    (project / "lib" / "store.rb").write_text(
        "# frozen_string_literal: true\n\nclass Store\n  # call-seq:\n  #   fetch(key) -> value\n  #\n"
        "  # Reads the value stored under the key, loading it first.\n  # @param key [String]\n"
        "  def fetch(key)\n    @values[key]\n  end\nend\n")
    (project / "lib" / "Cache.php").write_text(
        "<?php\nclass Cache {\n    /**\n     * Removes every expired entry from the pool.\n     * @return int\n     */\n"
        "    public function prune(): int { return 0; }\n}\n")
    (project / "lib" / "reader.h").write_text(
        "namespace io {\nclass Reader {\n public:\n  //! Skips the whitespace before the next token.\n"
        "  /*! Tabs count as spaces. */\n  const char& skip() { return *p; }\n};\n}\n")
    (project / "lib" / "path.lua").write_text(
        "local M = {}\n--------------------------------\n--- Splits a path into its folder and its name.\n"
        "-- @string p the path\n-- @return folder, name\nfunction M.split(p)\n  return p:match('(.*/)(.*)')\nend\n"
        "return M\n")
    (project / "lib" / "Token.cs").write_text(
        "namespace Json {\n  public class Token {\n    /// <summary>\n"
        "    /// Creates a <see cref=\"T:Json.Token\"/> from <paramref name=\"text\"/>\n    /// </summary>\n"
        "    /// <param name=\"text\">The JSON text.</param>\n    [Obsolete]\n"
        "    public static Token Parse(string text) { return null; }\n  }\n}\n")
    (project / "lib" / "Vault.sol").write_text(
        "pragma solidity ^0.8.20;\ncontract Vault {\n    /// @notice Moves the caller's {Token} balance to a new owner.\n"
        "    /// @dev Reverts when paused.\n    /// @param to the new owner\n"
        "    function transferAll(address to) external {}\n    /**\n     * @dev Returns the shares held by an account.\n"
        "     * @param account the holder\n     */\n    function sharesOf(address account) external view returns (uint256) {}\n}\n")
    (project / "lib" / "Parse.hs").write_text(
        "module Parse where\n\nimport Data.Char\n\n-- | /O(n)/ Splits the 'Text' at each comma,\n-- dropping @\" \"@.\n"
        "splitCommas :: String -> [String]\nsplitCommas s = words s\n")
    asked = {}
    for language in ("ruby", "php", "cpp", "lua", "csharp", "solidity", "haskell"):
        queries, units, _roots = prepare_language(language, [("p", project)], tmp_path / language, 10)
        asked.update({q.name: q.text for q in queries})
        assert units
    assert asked == {"fetch": "Reads the value stored under the key, loading it first.",
                     "prune": "Removes every expired entry from the pool.",
                     "skip": "Skips the whitespace before the next token.",
                     "split": "Splits a path into its folder and its name.",
                     "Parse": "Creates a Token from text",
                     "transferAll": "Moves the caller's Token balance to a new owner.",
                     "sharesOf": "Returns the shares held by an account.",
                     "splitCommas": "Splits the Text at each comma, dropping \" \"."}
    searched = (tmp_path / "cpp" / "p" / "lib" / "reader.h").read_text()
    assert "Skips" not in searched and "skip()" in searched


def test_a_paired_difference_is_settled_only_when_its_interval_leaves_out_zero():
    from benchmarks.quality.paired import paired_difference

    a = [1.0, 0.5, 0.0, 1 / 3, 1.0, 0.0, 0.25, 1.0] * 25
    same = paired_difference(a, list(a), resamples=2_000)
    assert (same.difference, same.low, same.high, same.settled) == (0.0, 0.0, 0.0, False)
    # Half the questions a rank better, half a rank worse: the mean moves a little, the draw undoes it.
    swapped = [1.0 if i % 2 else 0.5 for i in range(200)]
    mixed = paired_difference(swapped, [0.5 if i % 2 else 1.0 for i in range(200)], resamples=2_000)
    assert mixed.low < 0 < mixed.high and not mixed.settled and mixed.better == mixed.worse == 100
    # Every question found first instead of second: settled, whichever draw.
    better = paired_difference([0.5] * 50, [1.0] * 50, resamples=2_000)
    assert better.settled and better.low == better.high == 0.5 and better.better == 50
    assert paired_difference(a, a[::-1], 2_000, seed=1) == paired_difference(a, a[::-1], 2_000, seed=1)


def test_a_paired_difference_needs_the_same_questions_on_both_sides():
    import pytest

    from benchmarks.quality.paired import paired_difference

    with pytest.raises(ValueError, match="paired"):
        paired_difference([1.0, 0.5], [1.0])
