from fixuser.main import entry

entry()
