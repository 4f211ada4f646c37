"""Reading the `parameters` text A1111, Forge and Civitai write: prompts, pairs, tags."""

from __future__ import annotations

from formats.a1111_text import PromptTag, parse_infotext, read_pairs, take_tags


def test_prompt_negative_and_pairs_are_split_at_their_labels() -> None:
    info = parse_infotext(
        "a cat on a mat\nNegative prompt: blurry, dog\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x768"
    )
    assert info.prompt == "a cat on a mat"
    assert info.negative_prompt == "blurry, dog"
    assert info.pairs == {
        "Steps": "20",
        "Sampler": "Euler a",
        "CFG scale": "7",
        "Seed": "5",
        "Size": "512x768",
    }


def test_multi_line_prompts_keep_their_lines() -> None:
    info = parse_infotext(
        "first line,\nsecond line\nNegative prompt: bad,\nworse\n"
        "Steps: 20, Sampler: Euler, CFG scale: 7"
    )
    assert info.prompt == "first line,\nsecond line"
    assert info.negative_prompt == "bad,\nworse"


def test_a_missing_negative_prompt_is_empty() -> None:
    info = parse_infotext("a red circle\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1")
    assert info.prompt == "a red circle" and info.negative_prompt == ""


def test_a_last_line_with_fewer_than_three_pairs_is_prompt_text() -> None:
    info = parse_infotext("portrait\nstyle: oil, mood: calm")
    assert info.prompt == "portrait\nstyle: oil, mood: calm" and info.pairs == {}


def test_quoted_values_keep_their_commas_and_colons() -> None:
    pairs = read_pairs(
        'Steps: 20, Lora hashes: "add_detail: 7c6bad76eb54, style: 0123", '
        'Hires prompt: "a \\"big\\" cat, detailed", Seed: 3'
    )
    assert pairs == {
        "Steps": "20",
        "Lora hashes": "add_detail: 7c6bad76eb54, style: 0123",
        "Hires prompt": 'a "big" cat, detailed',
        "Seed": "3",
    }


def test_bare_json_values_are_one_value_each() -> None:
    pairs = read_pairs(
        'Seed: 1, Hashes: {"model": "6ce0161689", "lora:a, b": "x"}, '
        'Civitai resources: [{"type": "lora", "weight": 0.8}, {"type": "checkpoint"}], Steps: 9'
    )
    assert pairs is not None
    assert pairs["Hashes"] == '{"model": "6ce0161689", "lora:a, b": "x"}'
    assert pairs["Civitai resources"].startswith("[{") and pairs["Steps"] == "9"


def test_lora_tags_are_taken_out_of_the_prompt_with_their_weights() -> None:
    text, tags = take_tags("a cat, <lora:fluffy:0.8>, on a mat <LoRA:style v2:0.6:0.3>")
    assert text == "a cat, on a mat"
    assert tags == [
        PromptTag("lora", "fluffy", ("0.8",)),
        PromptTag("lora", "style v2", ("0.6", "0.3")),
    ]


def test_tags_in_the_negative_prompt_are_kept_apart() -> None:
    info = parse_infotext(
        "a cat <lora:a:1>\nNegative prompt: ugly <lora:b:1>\nSteps: 1, Seed: 1, CFG scale: 1"
    )
    assert [t.name for t in info.tags] == ["a"]
    assert [t.name for t in info.negative_tags] == ["b"]
    assert info.negative_prompt == "ugly"
