from shared_code import greet

from . import example


def customentry(req):
    return greet.greet(example.NAME)
