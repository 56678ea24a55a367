"""One router per page group; inbox.web.app includes every module here."""
