"""The newsroom read model's tables, by direction: their ``rows``, what the fold ``writes`` to
them, and the ``reads`` of them."""
