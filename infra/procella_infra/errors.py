"""The one kind of failure the program reports before it creates anything."""


class InvalidSetup(Exception):
    """Configuration, bundle or flow files that cannot produce a working deployment.

    Raised before the first resource is declared, so a bad `pulumi up` changes nothing. The message says what is
    wrong and how to fix it, and never contains a secret's value.
    """

    def __init__(self, title: str, problems: list[str]):
        self.problems = list(problems)
        super().__init__(title + "\n" + "\n".join(f"  - {p}" for p in self.problems))
