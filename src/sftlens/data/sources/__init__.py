"""Data sources that turn files into :class:`~sftlens.data.records.Fact` records.

One module per spec kind (``entityquestions``, ``world``, ``jsonl``, ``geo`` with its
package reader ``geo_tables``); ``rows`` holds the generic JSONL row schema the world and
JSONL sources share.

Example::

    python -m sftlens.data jsonl:my_facts.jsonl
"""
