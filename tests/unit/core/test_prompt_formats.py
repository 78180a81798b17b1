"""sftlens.prompts: one owner of the SFT/eval prompt formats; training and scoring agree."""

from __future__ import annotations

import pytest

from sftlens.errors import ConfigError, SftlensError
from sftlens.prompts import PROMPT_FORMATS, get_format, qa_prompt, qa_text

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant]{% endif %}"
)


@pytest.fixture(scope="module")
def tok(tiny_llama_dir):
    from sftlens.models import load_tokenizer

    return load_tokenizer(tiny_llama_dir)


@pytest.fixture(scope="module")
def chat_tok(tiny_llama_dir):
    from sftlens.models import load_tokenizer

    t = load_tokenizer(tiny_llama_dir)
    t.chat_template = CHAT_TEMPLATE
    return t


def test_paper_format_is_the_papers_text():
    assert qa_prompt("Where was Alice born?") == "<|question|> Where was Alice born? <|answer|>"
    assert qa_text("Q?", "A", "</s>") == "<|question|> Q? <|answer|> A</s>"
    assert get_format("paper").prompt(None, "Q?") == qa_prompt("Q?")
    assert PROMPT_FORMATS.names() == ["chat", "paper"]


def test_unknown_format_suggests():
    with pytest.raises(SftlensError, match="unknown prompt format 'chta'; did you mean 'chat'"):
        get_format("chta")


@pytest.mark.parametrize("name", ["paper", "chat"])
def test_scored_prompt_is_the_trained_prompt(name, tok, chat_tok):
    """The ids generation sees for ``prompt()`` are exactly the prompt ids fine-tuning used."""
    t = chat_tok if name == "chat" else tok
    fmt = get_format(name)
    prompt_ids, target_ids = fmt.encode(t, "Where was Alice born ?", "Paris")
    assert t(fmt.prompt(t, "Where was Alice born ?"), add_special_tokens=True)["input_ids"] == (
        prompt_ids
    )
    assert target_ids and prompt_ids.count(t.bos_token_id) <= 1  # never a doubled BOS


def test_chat_needs_a_template(tok):
    with pytest.raises(ConfigError, match="no chat template"):
        get_format("chat").prompt(tok, "q")
    with pytest.raises(ConfigError, match="needs the model's tokenizer"):
        get_format("chat").prompt(None, "q")


def test_stage_configs_reject_unknown_formats():
    from sftlens.analysis.config import TokenKLConfig
    from sftlens.config import build_config
    from sftlens.evaluation.config import EvaluateConfig
    from sftlens.finetuning.config import FinetuneConfig

    for cls in (EvaluateConfig, TokenKLConfig, FinetuneConfig):
        assert build_config(cls, {"prompt_format": "chat"}).prompt_format == "chat"
        with pytest.raises(ConfigError, match="unknown prompt format 'papr'"):
            build_config(cls, {"prompt_format": "papr"})


def test_evaluation_and_token_kl_use_the_trained_format(tiny_llama_dir, chat_tok):
    """A chat-format fine-tune is scored (evaluation) and compared (token KL) on chat prompts."""
    from sftlens.analysis.config import TokenKLConfig
    from sftlens.analysis.prompts import kl_prompts
    from sftlens.data.records import Fact
    from sftlens.evaluation import EvaluateConfig, evaluate_model
    from sftlens.models import load_model

    fact = Fact(
        "q1", "P19", "Alice", "Where was Alice born?", ("Paris",), domain="in", split="test"
    )
    want = get_format("chat").prompt(chat_tok, fact.question)
    assert "[user] Where was Alice born?\n" in want and want.endswith("[assistant]")
    model = load_model(tiny_llama_dir, dtype="float32", device="cpu")
    cfg = EvaluateConfig(max_new_tokens=2, batch_size=1, prompt_format="chat")
    res = evaluate_model(model, chat_tok, [fact], {"q1": 0}, cfg, progress=False)
    assert res.predictions[0]["prompt"] == want
    base, tuned = kl_prompts(
        [fact], {}, [], TokenKLConfig(base_prompt="qa", prompt_format="chat"), chat_tok
    )
    assert base == tuned == [want]
    assert kl_prompts([fact], {}, [], TokenKLConfig(base_prompt="qa"))[1] == [
        qa_prompt(fact.question)
    ]


def test_an_unused_chat_template_is_mentioned_once(tiny_llama_dir, caplog):
    import logging

    from sftlens import prompts
    from sftlens.models import load_tokenizer

    t = load_tokenizer(tiny_llama_dir)
    t.chat_template = CHAT_TEMPLATE
    t.name_or_path = "chat-model-for-this-test"
    paper = PROMPT_FORMATS.get("paper")
    with caplog.at_level(logging.INFO, logger="sftlens.prompts"):
        for _ in range(3):
            paper.prompt(t, "Where was Alice born?")
            paper.encode(t, "Where was Alice born?", "Paris")
    said = [r.getMessage() for r in caplog.records if "chat template" in r.getMessage()]
    assert len(said) == 1 and "prompt_format=chat" in said[0]
    prompts._NOTED.discard("chat-model-for-this-test")
    plain = load_tokenizer(tiny_llama_dir)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sftlens.prompts"):
        paper.prompt(plain, "Where was Alice born?")
    assert not [r for r in caplog.records if "chat template" in r.getMessage()]


def test_chat_with_the_first_line_rule_is_mentioned_once(caplog, monkeypatch):
    import logging

    from sftlens import prompts

    monkeypatch.setattr(prompts, "_SPAN_NOTED", set())
    with caplog.at_level(logging.INFO, logger="sftlens.prompts"):
        prompts.note_answer_span("paper", "first_line")  # the paper's format: nothing to say
        prompts.note_answer_span("chat", "full")  # the opt-in already taken
        assert not caplog.records
        for _ in range(3):
            prompts.note_answer_span("chat", "first_line")
    (record,) = caplog.records
    assert "answer_span=full" in record.getMessage() and "\n" not in record.getMessage()
