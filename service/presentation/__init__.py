"""How the read model reads to a person: in their language, dates at their own precision, with
links to where each thing lives, as JSON (``timelines``, ``entities``), an embed page
(``embed``), a feed (``feed``) and TimelineJS's document (``timelinejs``)."""
