//! `template.yaml` follows AWS's advice for SQS-driven functions and least privilege, and declares
//! the table the code expects.

use e2e::{referenced_resource, template, template_problems};
use serde_yaml::Value;
use sync_shared::Job;
use sync_shared::store::schema;

#[test]
fn template_has_no_problems() {
    assert_eq!(template_problems(&template()), Vec::<String>::new());
}

fn resource<'a>(template: &'a mut Value, name: &str) -> &'a mut Value {
    &mut template["Resources"][name]["Properties"]
}

#[test]
fn a_queue_without_dead_letter_queue_is_caught() {
    let mut t = template();
    if let Some(props) = resource(&mut t, "SetupQueue").as_mapping_mut() {
        props.remove("RedrivePolicy");
    }
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("SetupQueue has no dead-letter queue")),
        "{problems:?}"
    );
}

#[test]
fn a_receive_count_under_five_is_caught() {
    let mut t = template();
    resource(&mut t, "SetupQueue")["RedrivePolicy"]["maxReceiveCount"] = Value::from(4);
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("maxReceiveCount 4, under 5")),
        "{problems:?}"
    );
}

#[test]
fn a_visibility_under_six_timeouts_is_caught() {
    let mut t = template();
    resource(&mut t, "SetupQueue")["VisibilityTimeout"] = Value::from(359);
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("visibility 359 s, under 6 x")),
        "{problems:?}"
    );
}

#[test]
fn a_wildcard_resource_is_caught() {
    let mut t = template();
    let statements = &mut resource(&mut t, "SetupFunction")["Policies"][0]["Statement"];
    if let Some(list) = statements.as_sequence_mut() {
        let mut open = list[0].clone();
        open["Resource"] = Value::from("*");
        list.push(open);
    }
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("SetupFunction has a wildcard Resource")),
        "{problems:?}"
    );
}

#[test]
fn a_dead_letter_queue_without_alarm_is_caught() {
    let mut t = template();
    if let Some(resources) = t["Resources"].as_mapping_mut() {
        resources.remove("SetupDeadLetterAlarm");
    }
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("SetupDeadLetterQueue has no CloudWatch alarm")),
        "{problems:?}"
    );
}

#[test]
fn the_table_matches_the_code() {
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    let keys: Vec<(&str, &str)> = table["KeySchema"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap_or(""),
                k["KeyType"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(keys, [(schema::PK, "HASH"), (schema::SK, "RANGE")]);
    let index = |name: &str| {
        table["GlobalSecondaryIndexes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|i| i["IndexName"].as_str() == Some(name))
            .map(|i| {
                i["KeySchema"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|k| k["AttributeName"].as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            })
    };
    assert_eq!(
        index(schema::BY_STATE_INDEX),
        Some(vec![schema::STATE_ATTR.into(), schema::PK.into()])
    );
    assert_eq!(
        index(schema::BY_TENANT_INDEX),
        Some(vec![schema::TENANT_ATTR.into(), schema::PK.into()])
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(schema::TTL_ATTR)
    );
}

#[test]
fn every_job_has_a_schedule_a_queue_and_a_worker() {
    let t = template();
    let scheduler = &t["Resources"]["SchedulerFunction"]["Properties"];
    for job in Job::ALL {
        let queue =
            referenced_resource(&scheduler["Environment"]["Variables"][job.queue_url_env()])
                .unwrap_or_else(|| panic!("the scheduler has no {} variable", job.queue_url_env()));
        let scheduled = scheduler["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, e)| {
                e["Properties"]["Input"]
                    .as_str()
                    .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
                    .is_some_and(|i| i["job"] == job.as_str())
            });
        assert!(scheduled, "no schedule names job {job}");
        let consumed = t["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, r)| {
                r["Properties"]["Events"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                    .any(|(_, e)| {
                        e["Type"].as_str() == Some("SQS")
                            && referenced_resource(&e["Properties"]["Queue"]) == Some(queue.clone())
                    })
            });
        assert!(consumed, "no function consumes {queue}");
    }
}

/// The functions that consume `queue` through an SQS event, with that event.
fn consumers(t: &Value, queue: &str) -> Vec<(String, Value, Value)> {
    t["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .flat_map(|(name, r)| {
            r["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter(|(_, e)| {
                    e["Type"].as_str() == Some("SQS")
                        && referenced_resource(&e["Properties"]["Queue"]).as_deref() == Some(queue)
                })
                .map(|(_, e)| {
                    (
                        name.as_str().unwrap_or_default().to_string(),
                        r.clone(),
                        e.clone(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_job_with_an_apply_queue_has_a_planner_that_sends_to_it_and_a_bounded_applier() {
    let t = template();
    let resources = t["Resources"].as_mapping().cloned().unwrap_or_default();
    let mut checked = 0;
    for job in Job::ALL {
        let Some(variable) = job.apply_queue_url_env() else {
            continue;
        };
        let queue = referenced_resource(
            &t["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"]
                [job.queue_url_env()],
        )
        .unwrap_or_else(|| panic!("no queue for {job}"));
        let planners = consumers(&t, &queue);
        assert_eq!(planners.len(), 1, "one planner consumes {queue}");
        let (planner, planner_resource, _) = &planners[0];
        let apply_queue = referenced_resource(
            &planner_resource["Properties"]["Environment"]["Variables"][variable],
        )
        .unwrap_or_else(|| panic!("{planner} has no {variable}"));
        assert_eq!(
            resources
                .iter()
                .find(|(n, _)| n.as_str() == Some(apply_queue.as_str()))
                .map(|(_, r)| r["Type"].as_str() == Some("AWS::SQS::Queue")),
            Some(true),
            "{variable} names the queue {apply_queue}"
        );
        let sends = planner_resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
            .any(|s| {
                s["Action"].as_str() == Some("sqs:SendMessage")
                    && referenced_resource(&s["Resource"]).as_deref() == Some(apply_queue.as_str())
            });
        assert!(sends, "{planner} may not send to {apply_queue}");

        let appliers = consumers(&t, &apply_queue);
        assert_eq!(appliers.len(), 1, "one applier consumes {apply_queue}");
        let (applier, _, event) = &appliers[0];
        assert_ne!(applier, planner);
        assert_eq!(
            event["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_u64(),
            Some(local_runner::APPLY_MAX_CONCURRENCY as u64),
            "{applier}'s MaximumConcurrency is what local-run's drain_apply plays"
        );
        checked += 1;
    }
    assert!(checked > 0, "some job plans and applies");
}

#[test]
fn every_schedule_rate_is_a_template_parameter() {
    let t = template();
    let scheduler = &t["Resources"]["SchedulerFunction"]["Properties"];
    for job in Job::ALL {
        let (_, schedule) = scheduler["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .find(|(_, e)| {
                e["Properties"]["Input"]
                    .as_str()
                    .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
                    .is_some_and(|i| i["job"] == job.as_str())
            })
            .unwrap_or_else(|| panic!("no schedule names job {job}"));
        assert_eq!(schedule["Type"].as_str(), Some("ScheduleV2"));
        let input: serde_json::Value =
            serde_json::from_str(schedule["Properties"]["Input"].as_str().unwrap_or_default())
                .expect("input");
        assert_eq!(
            input["scheduled_time"], "<aws.scheduler.scheduled-time>",
            "{job}'s schedule passes its scheduled time"
        );
        let camel: String = job
            .as_str()
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let parameter = format!("{camel}ScheduleRate");
        assert_eq!(
            referenced_resource(&schedule["Properties"]["ScheduleExpression"]).as_deref(),
            Some(parameter.as_str()),
            "{job}'s schedule takes its rate from the parameter {parameter}"
        );
        let default = t["Parameters"][parameter.as_str()]["Default"]
            .as_str()
            .unwrap_or_else(|| panic!("parameter {parameter} has no default"));
        assert!(
            default.starts_with("rate(") || default.starts_with("cron("),
            "{parameter}'s default {default} is a schedule expression"
        );
    }
}
