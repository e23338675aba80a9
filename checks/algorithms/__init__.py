"""One module per algorithm (or family), each defining its records in ``RECORDS``; the catalog
(optcheck.checks.catalog) finds them, so adding one needs no list edited anywhere else."""
