"""Pure decisions over face encodings: who a face is and how sure (decide), and which
unknown faces look like one person (cluster)."""
