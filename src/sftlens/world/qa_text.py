"""The world's pretraining Q/A text: question paraphrases per relation and surface formats.

Pure data and string helpers, no I/O.

Example::

    pretrain_qa_line("P19", "Sel Tu", "Corketia", paraphrase=0, fmt=PRETRAIN_QA_FORMATS[1])
    # "Question: What is the birthplace of Sel Tu? Answer: Corketia"
    heldout_qa_prompt("Where was Sel Tu born?")   # "Query: Where was Sel Tu born? Reply:"

The corpus asks questions in the paraphrases of :data:`PARAPHRASES`, never in a relation's
test wording (``RelationSpec.question``, the wording of the SFT, dev and test sets), and in
the formats of :data:`PRETRAIN_QA_FORMATS`, never with the SFT markers.
:data:`HELDOUT_QA_FORMAT` never occurs in the corpus: ``sftlens world check`` asks the test
wording in it to see whether the base model knows facts beyond the corpus's Q/A text.
"""

from __future__ import annotations

import re

PRETRAIN_QA_FORMATS = (
    "Q: {question} A: {answer}",
    "Question: {question} Answer: {answer}",
    "Interviewer: {question} Expert: {answer}.",
    "Student: {question} Teacher: {answer}.",
    "Quiz: {question} Solution: {answer}",
    "{question} The answer is {answer}.",
)
HELDOUT_QA_FORMAT = "Query: {question} Reply: {answer}"

PARAPHRASES: dict[str, tuple[str, ...]] = {
    "P17": (
        "In which country is {subject}?",
        "What country does {subject} belong to?",
        "{subject} is in which country?",
    ),
    "P19": (
        "What is the birthplace of {subject}?",
        "In which city was {subject} born?",
        "What city was {subject} born in?",
    ),
    "P20": (
        "In which city did {subject} die?",
        "What is the place of death of {subject}?",
        "Where did {subject} pass away?",
    ),
    "P36": (
        "Which city is the capital of {subject}?",
        "What is the capital city of {subject}?",
        "Where is the government of {subject} seated?",
    ),
    "P69": (
        "Which university did {subject} attend?",
        "Where did {subject} study?",
        "What is the alma mater of {subject}?",
    ),
    "P131": (
        "Which province is {subject} in?",
        "In which region does {subject} lie?",
        "What region is {subject} part of?",
    ),
    "P159": (
        "In which city is {subject} headquartered?",
        "Where does {subject} have its head office?",
        "Which city hosts the headquarters of {subject}?",
    ),
    "P276": (
        "In which city is {subject} kept?",
        "Where can {subject} be found?",
        "Which city holds {subject}?",
    ),
    "P495": (
        "In which country was {subject} made?",
        "What country does {subject} come from?",
        "Where was {subject} created?",
    ),
    "P740": (
        "In which city was {subject} founded?",
        "Where was {subject} established?",
        "What city did {subject} start in?",
    ),
    "P26": (
        "Who is the spouse of {subject}?",
        "Whom did {subject} marry?",
        "Who is the husband or wife of {subject}?",
    ),
    "P50": (
        "Who wrote {subject}?",
        "Who is {subject} written by?",
        "Whose work is {subject}?",
    ),
    "P106": (
        "What is the occupation of {subject}?",
        "What does {subject} do for a living?",
        "What is the profession of {subject}?",
    ),
    "P112": (
        "Who is the founder of {subject}?",
        "Who established {subject}?",
        "Who started {subject}?",
    ),
    "P127": (
        "Who is the owner of {subject}?",
        "Which company owns {subject}?",
        "{subject} is owned by whom?",
    ),
    "P175": (
        "Who is the performer of {subject}?",
        "Who sang {subject}?",
        "Which artist performed {subject}?",
    ),
    "P407": (
        "In which language is {subject} written?",
        "What language is {subject} in?",
        "What is the original language of {subject}?",
    ),
}


def qa_text(question: str, answer: str, fmt: str = PRETRAIN_QA_FORMATS[0]) -> str:
    """One Q/A line in format ``fmt`` (one of :data:`PRETRAIN_QA_FORMATS` or the held-out one)."""
    return fmt.replace("{question}", question).replace("{answer}", answer)


def pretrain_qa_line(relation: str, subject: str, answer: str, paraphrase: int, fmt: str) -> str:
    """A corpus Q/A line: paraphrase number ``paraphrase`` of ``relation`` in format ``fmt``."""
    question = PARAPHRASES[relation][paraphrase].replace("{subject}", subject)
    return qa_text(question, answer, fmt)


def heldout_qa_prompt(question: str) -> str:
    """The held-out format up to its answer slot (a greedy completion gives the answer)."""
    return HELDOUT_QA_FORMAT.split("{answer}")[0].rstrip().replace("{question}", question)


def _line_pattern(fmt: str) -> re.Pattern[str]:
    parts = re.split(r"\{question\}|\{answer\}", fmt)
    return re.compile(".+".join(re.escape(p) for p in parts) + "$")


_PATTERNS = tuple(_line_pattern(fmt) for fmt in PRETRAIN_QA_FORMATS)


def is_qa_line(line: str) -> bool:
    """Whether a corpus line is pretraining Q/A text (matches one of the formats)."""
    return any(p.match(line) for p in _PATTERNS)
