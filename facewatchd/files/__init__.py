"""Moving files, and only here: finding them (scan, watch), moving them without loss
(route) as journaled moves (journal), deciding where each goes (sorter), the review
queue and its clusters (review, clusters), undo, and the references folder (enroll)."""
