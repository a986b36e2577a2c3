"""Never deployed (`.funcignore` keeps them out): the command-line client and the generator of the
Power Platform connector's files."""
