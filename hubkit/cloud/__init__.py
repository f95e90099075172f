"""Cloud services of a hub: the Pulumi program in ``stacks/hub``, an offline
plan under Pulumi's mocks, policies over that plan, and real runs through
``pulumi.automation``."""
