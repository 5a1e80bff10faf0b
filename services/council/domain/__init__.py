"""The council's pure rules: tallies (R7, R17), ranking (R13), rounds and calendar (R21), ballots
(R18, R19, R19a), decisions (R8, R14). Standard library only."""
