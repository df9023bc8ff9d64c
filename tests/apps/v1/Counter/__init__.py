COUNT = 0


def main(req):
    global COUNT
    COUNT += 1
    return str(COUNT)
