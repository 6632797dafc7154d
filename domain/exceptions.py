"""Domain exceptions. The API maps them onto HTTP: UnknownFact is 404, the
others are rules broken (409)."""


class DomainError(Exception):
    """A rule of the domain was broken; the message states the rule in words."""


class UnknownFact(DomainError):
    """The thing named does not exist (an unknown issue, compound or company)."""


class RuleBroken(DomainError):
    """A command contradicts the history (resolve twice, rate an open issue...)."""


class ConflictingRepeat(RuleBroken):
    """A client-generated id was reused with a different body."""
