"""The live classroom: the teacher's login, the class, its seats and its pupils' answers, kept through a
restart in the class database (store.py) until the class ends."""
