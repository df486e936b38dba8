"""A minimal, real Django project for the tests of queue_max.contrib.django."""
