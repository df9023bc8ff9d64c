import logging


def main(req):
    logging.info("info-from-user-code")
    logging.debug("debug-from-user-code")
    logging.warning("warning-from-user-code")
    return "logged"
