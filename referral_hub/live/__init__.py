"""Live pages: "a referral changed" pushed to the open pages of the agencies party to it."""
