"""Who may do what: the actor, the one access policy, users and tokens."""
