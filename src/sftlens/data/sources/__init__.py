"""Data sources that turn files into :class:`~sftlens.data.records.Fact` records."""
