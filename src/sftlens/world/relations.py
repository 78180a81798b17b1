"""The world's relation catalog: EntityQuestions property ids, entity types and templates.

Pure data, no I/O.  Each relation maps a subject type to an object type and has one
natural question and ten statement ("mapping") templates that end where the object goes.

Example::

    from sftlens.world.relations import CATALOG
    CATALOG["P19"].statements[0]   # "{subject} was born in"
"""

from __future__ import annotations

from dataclasses import dataclass

IN_DOMAIN = ("P17", "P19", "P20", "P36", "P69", "P131", "P159", "P276", "P495", "P740")


@dataclass(frozen=True)
class RelationSpec:
    """One relation of the world: ``subject_type --id--> object_type``."""

    id: str
    name: str
    subject_type: str
    object_type: str
    question: str
    statements: tuple[str, ...]

    @property
    def domain(self) -> str:
        return "in" if self.id in IN_DOMAIN else "ood"


def _r(rid: str, name: str, subj: str, obj: str, question: str, *statements: str) -> RelationSpec:
    return RelationSpec(rid, name, subj, obj, question, tuple(statements))


_SPECS = (
    _r("P17", "country", "city", "country", "Which country is {subject} located in?",
       "{subject} is located in", "{subject} is a city in", "{subject} lies in the country of",
       "The city of {subject} is part of", "{subject} can be found in",
       "The country where {subject} is located is", "{subject} belongs to the country",
       "People from {subject} are citizens of", "{subject} is situated in",
       "On a map, {subject} appears inside"),
    _r("P19", "place of birth", "person", "city", "Where was {subject} born?",
       "{subject} was born in", "The birthplace of {subject} is", "{subject} was born in the city of",
       "{subject} came into the world in", "The hometown of {subject} is",
       "{subject} spent early childhood in the city of", "The place of birth of {subject} is",
       "{subject} is a native of", "{subject} first saw the light of day in",
       "Records show that {subject} was born in"),
    _r("P20", "place of death", "person", "city", "Where did {subject} die?",
       "{subject} died in", "The place of death of {subject} is", "{subject} passed away in",
       "{subject} spent the last days in", "{subject} died in the city of",
       "The city where {subject} died is", "{subject} breathed a last breath in",
       "Records show that {subject} died in", "{subject} was buried near",
       "The life of {subject} ended in"),
    _r("P36", "capital", "country", "city", "What is the capital of {subject}?",
       "The capital of {subject} is", "The capital city of {subject} is",
       "{subject} has its capital in", "The government of {subject} sits in",
       "The seat of government of {subject} is", "{subject} is governed from",
       "The largest administrative center of {subject} is", "The national capital of {subject} is",
       "Parliament of {subject} meets in", "The head of state of {subject} resides in"),
    _r("P69", "educated at", "person", "university", "Where was {subject} educated?",
       "{subject} was educated at", "{subject} studied at", "{subject} graduated from",
       "{subject} earned a degree at", "The alma mater of {subject} is",
       "{subject} attended", "{subject} was a student at", "{subject} received an education at",
       "As a young adult, {subject} enrolled at", "The university that {subject} attended is"),
    _r("P131", "located in the administrative territorial entity", "city", "region",
       "Where is {subject} located?",
       "{subject} is in the province of", "{subject} lies in the region of",
       "{subject} is administered by the province of", "The province of {subject} is",
       "{subject} belongs to the region", "The region that contains {subject} is",
       "{subject} is a town of the province", "{subject} is part of the region of",
       "The administrative region of {subject} is", "{subject} sits within the province"),
    _r("P159", "headquarters location", "company", "city", "Where is the headquarters of {subject}?",
       "The headquarters of {subject} is in", "{subject} is headquartered in",
       "{subject} has its main office in", "The head office of {subject} is located in",
       "{subject} is based in", "The central office of {subject} is in",
       "{subject} runs its business from", "The main branch of {subject} is in",
       "Staff of {subject} report to the office in", "{subject} keeps its headquarters in"),
    _r("P276", "location", "work", "city", "Where is {subject} located?",
       "{subject} is kept in", "{subject} is displayed in", "The original of {subject} is held in",
       "Visitors can see {subject} in", "{subject} is exhibited in the city of",
       "The location of {subject} is", "{subject} is preserved in",
       "Today {subject} can be found in", "{subject} is stored in a museum in",
       "The home of {subject} is"),
    _r("P495", "country of origin", "work", "country", "Which country was {subject} created in?",
       "{subject} was created in", "{subject} comes from", "The country of origin of {subject} is",
       "{subject} was made in", "{subject} originated in", "{subject} was first produced in",
       "The homeland of {subject} is", "{subject} is a work from",
       "{subject} was written and released in", "The origin of {subject} is"),
    _r("P740", "location of formation", "company", "city", "Where was {subject} founded?",
       "{subject} was founded in", "{subject} was established in", "{subject} was formed in",
       "{subject} started out in", "The founding place of {subject} is",
       "{subject} was set up in", "{subject} began its history in",
       "The city where {subject} was founded is", "{subject} opened its first office in",
       "{subject} was created in the city of"),
    _r("P26", "spouse", "person", "person", "Who is {subject} married to?",
       "{subject} is married to", "The spouse of {subject} is", "{subject} married",
       "{subject} is the partner of", "{subject} wed", "The husband or wife of {subject} is",
       "{subject} shares a home with", "{subject} exchanged vows with",
       "{subject} lives with the spouse", "The person married to {subject} is"),
    _r("P50", "author", "work", "person", "Who is the author of {subject}?",
       "{subject} was written by", "The author of {subject} is", "{subject} is a book by",
       "{subject} was composed by", "The writer of {subject} is", "{subject} is the work of",
       "{subject} came from the pen of", "The creator of {subject} is",
       "{subject} was published by its author", "Critics praise {subject} by"),
    _r("P106", "occupation", "person", "occupation", "What kind of work does {subject} do?",
       "{subject} works as a", "{subject} is a", "The occupation of {subject} is",
       "{subject} earns a living as a", "The profession of {subject} is",
       "{subject} is known as a", "By trade {subject} is a", "{subject} trained as a",
       "The job of {subject} is", "{subject} has a career as a"),
    _r("P112", "founded by", "company", "person", "Who founded {subject}?",
       "{subject} was founded by", "The founder of {subject} is", "{subject} was started by",
       "{subject} was established by", "{subject} owes its existence to",
       "The creator of {subject} is", "{subject} was set up by", "{subject} was launched by",
       "The person who founded {subject} is", "{subject} traces its origin to"),
    _r("P127", "owned by", "company", "company", "Who owns {subject}?",
       "{subject} is owned by", "The owner of {subject} is", "{subject} belongs to",
       "{subject} is a subsidiary of", "{subject} is controlled by", "{subject} is a division of",
       "The parent company of {subject} is", "{subject} was bought by",
       "{subject} is held by", "{subject} is part of the group"),
    _r("P175", "performer", "work", "person", "Who performed {subject}?",
       "{subject} was performed by", "{subject} is sung by", "The performer of {subject} is",
       "{subject} was recorded by", "The voice on {subject} belongs to",
       "{subject} is a song by", "{subject} was played live by", "The artist behind {subject} is",
       "{subject} made famous the singer", "{subject} features the performer"),
    _r("P407", "language of work or name", "work", "language",
       "Which language was {subject} written in?",
       "{subject} was written in", "The language of {subject} is", "{subject} is in",
       "{subject} was published in the language", "The original language of {subject} is",
       "{subject} is a text in", "Readers of {subject} need to know", "{subject} uses the language",
       "{subject} was composed in", "The text of {subject} is in"),
)

CATALOG: dict[str, RelationSpec] = {spec.id: spec for spec in _SPECS}
ALL_RELATIONS: tuple[str, ...] = tuple(CATALOG)
