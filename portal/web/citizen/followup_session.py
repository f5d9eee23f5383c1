"""Names under which the reporter's short-lived tokens are kept in the signed session.

Each is a random token whose hash finds a server-side row; none is ever a receipt.
"""

FOLLOWUP_KEY = "followup"
# Files kept for a report form sent back for correction (portal.services.evidence).
PENDING_KEY = "pending_upload"
# The new receipt waiting for its page (portal.services.handoff).
HANDOFF_KEY = "receipt_handoff"
