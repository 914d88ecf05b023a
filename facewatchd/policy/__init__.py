"""Pure decisions over face encodings: who a face is and how sure (decide), which unknown
faces look like one person (cluster), and which sure match may teach (learn)."""
