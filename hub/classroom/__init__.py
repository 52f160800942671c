"""The live classroom: the teacher's login, the class and its pupils' answers, in memory only."""
