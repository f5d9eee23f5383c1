"""The name under which a reporter's follow-up token is kept in the signed session."""

FOLLOWUP_KEY = "followup"
