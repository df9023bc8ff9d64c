import module_that_does_not_exist_xyz

def main(req):
    return "x"
