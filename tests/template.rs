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
