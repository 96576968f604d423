"""Static-analysis feedback from pylint, as rewards on the lines of each message."""
